"""Rejection rates of dan_ext.mmd_test for every estimator at equal sample size, on the cases of the
test suite (tests/ops/test_two_sample.py, tests/ops/test_two_sample_estimators.py): the null (calibration),
a small and a clear mean shift, and the lattice case where only narrow kernels see the difference.

    python -m benchmarks.two_sample_power --reps 200 --out power.md
    python -m benchmarks.two_sample_power --reps 100 --cases lattice --estimators biased   # one cell
"""
from __future__ import annotations

import argparse
import time

import torch

import dan_ext


def _null(gen, n):
    return torch.randn(n, 3, generator=gen, dtype=torch.float64), torch.randn(n, 3, generator=gen, dtype=torch.float64)


def _shift(delta):
    def sample(gen, n):
        x, y = _null(gen, n)
        return x, y + delta
    return sample


def _lattice(gen, n):
    x = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    y = torch.round(torch.randn(n, 1, generator=gen, dtype=torch.float64))
    return x, y + 0.05 * torch.randn(n, 1, generator=gen, dtype=torch.float64)


# (name, sampler, rows per sample, test arguments)
CASES = [
    ("null, 3-D N(0, I)", _null, 100, dict(learn_betas=False)),
    ("shift 0.35 in 3-D", _shift(0.35), 100, dict(learn_betas=False)),
    ("shift 0.8 in 3-D", _shift(0.8), 200, dict(learn_betas=True)),
    ("lattice (narrow kernels), learned beta, 9 kernels", _lattice, 1000, dict(learn_betas=True, kernel_num=9)),
]


def rate(sampler, n, reps, seed, **kw):
    gen = torch.Generator().manual_seed(seed)
    return sum(dan_ext.mmd_test(*sampler(gen, n), generator=gen, **kw).reject for _ in range(reps)) / reps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--permutations", type=int, default=100)
    ap.add_argument("--out", default=None)
    ap.add_argument("--cases", default=None,
                    help="comma-separated words; only the cases whose name starts with one (default: every case)")
    ap.add_argument("--estimators", default=",".join(dan_ext.ESTIMATORS),
                    help="comma-separated subset of " + ", ".join(dan_ext.ESTIMATORS))
    args = ap.parse_args(argv)
    estimators = [e for e in args.estimators.split(",") if e]
    unknown = sorted(set(estimators) - set(dan_ext.ESTIMATORS))
    if unknown or not estimators:
        ap.error(f"--estimators: {', '.join(unknown) or 'none given'}; allowed: {', '.join(dan_ext.ESTIMATORS)}")
    cases = CASES
    if args.cases is not None:
        words = [w for w in args.cases.split(",") if w]
        cases = [c for c in CASES if any(c[0].startswith(w) for w in words)]
        if not cases:
            ap.error(f"--cases {args.cases!r} matches no case; the cases: " + "; ".join(c[0] for c in CASES))
    lines = [f"rejection rate at alpha = 0.05 over {args.reps} tests; unbiased/biased: permutation null of "
             f"{args.permutations}", "", "| case | n per sample | " + " | ".join(estimators) + " |",
             "|---|---|" + "---|" * len(estimators)]
    for name, sampler, n, kw in cases:
        row = []
        for est in estimators:
            extra = {"permutations": args.permutations} if est in ("unbiased", "biased") else {}
            t0 = time.perf_counter()
            row.append(rate(sampler, n, args.reps, 1, estimator=est, **kw, **extra))
            print(f"{name} {est}: {row[-1]:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        lines.append(f"| {name} | {n} | " + " | ".join(f"{r:.2f}" for r in row) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
