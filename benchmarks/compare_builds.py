"""python -m benchmarks.compare_builds DIR_A DIR_B ...: forward and forward+backward times of
several builds of dan_ext on the same inputs, each build in its own process, interleaved over
rounds (a shared machine drifts; interleaving spreads the drift over all builds).

A build is a folder holding a `dan_ext` package with its compiled module, e.g. one wheel per
instruction set, unpacked:

    for arch in portable x86-64-v3 native; do
      DAN_EXT_CUDA=0 DAN_EXT_CPU_ARCH=$arch pip wheel --no-deps -w /tmp/arch/$arch/whl .
      (cd /tmp/arch/$arch && unzip -q -o whl/*.whl 'dan_ext/*')
    done
    python -m benchmarks.compare_builds /tmp/arch/portable /tmp/arch/x86-64-v3 /tmp/arch/native

--small times only n=64, d=31 (the per-call overhead) with more calls per measurement.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap

SIZES = [(64, 31, 5), (64, 4096, 33), (256, 31, 5), (256, 256, 5), (256, 1024, 5), (256, 1024, 33), (256, 4096, 5),
         (256, 4096, 33), (1024, 1024, 1), (65536, 256, 5), (16384, 1024, 5), (4096, 4096, 5)]

CHILD = textwrap.dedent('''
    import json, statistics, sys, time
    sys.path.insert(0, sys.argv[1])
    import torch, dan_ext
    assert dan_ext.__file__.startswith(sys.argv[1]), dan_ext.__file__
    torch.set_num_threads(int(sys.argv[3]))
    out = {}
    for n, d, m in json.loads(sys.argv[2]):
        g = torch.Generator().manual_seed(0)
        xs = torch.randn(n, d, generator=g).requires_grad_(True)
        xt = (torch.randn(n, d, generator=g) + 0.5).requires_grad_(True)
        def fwdbwd(): torch.autograd.grad(dan_ext.mkmmd_linear(xs, xt, kernel_num=m), (xs, xt))
        def fwd():
            with torch.no_grad(): dan_ext.mkmmd_linear(xs, xt, kernel_num=m)
        inner = max(1, int(float(sys.argv[4]) // (n * d)))
        res = {}
        for name, fn in (("fwd", fwd), ("fwdbwd", fwdbwd)):
            for _ in range(3): fn()
            ts = []
            for _ in range(9):
                t = time.perf_counter()
                for _ in range(inner): fn()
                ts.append((time.perf_counter() - t) / inner * 1e3)
            res[name] = statistics.median(ts)
        out[f"{n}x{d}x{m}"] = res
    print(json.dumps(out))
''')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builds", nargs="+", help="folders that each hold a dan_ext package with its _C module")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--small", action="store_true", help="only n=64, d=31, m=5 (per-call overhead)")
    args = ap.parse_args(argv)
    sizes, work = ([(64, 31, 5)], 6e5) if args.small else (SIZES, 2e5)
    runs = {b: [] for b in args.builds}
    for _ in range(args.rounds):
        for b in args.builds:
            out = subprocess.run([sys.executable, "-c", CHILD, b, json.dumps(sizes), str(args.threads), str(work)],
                                 check=True, capture_output=True, text=True).stdout
            runs[b].append(json.loads(out))
    names = [b.rstrip("/").rsplit("/", 1)[-1] for b in args.builds]
    print("| n | d | m | " + " | ".join(f"{n} fwd+bwd ms" for n in names) + " | " +
          " | ".join(f"{names[0]} / {n}" for n in names[1:]) + " |")
    print("|---|---|---|" + "---|" * (2 * len(names) - 1))
    for n, d, m in sizes:
        key = f"{n}x{d}x{m}"
        med = [statistics.median(r[key]["fwdbwd"] for r in runs[b]) for b in args.builds]
        print(f"| {n} | {d} | {m} | " + " | ".join(f"{t:.3f}" for t in med) + " | " +
              " | ".join(f"{med[0] / t:.2f}x" for t in med[1:]) + " |")


if __name__ == "__main__":
    main()
