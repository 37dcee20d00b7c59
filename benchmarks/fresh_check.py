"""python -m benchmarks.fresh_check: the compiled op against the float64 reference on fresh random
shapes and values (seeded from the clock unless --seed is given), every dtype of the device.
Prints one line per case and exits non-zero on the first mismatch beyond tolerance."""
from __future__ import annotations

import argparse
import random
import time

import torch

from dan_ext.testing import rel_err_beyond_rounding

import dan_ext
from dan_ext import reference
from dan_ext.linear import backend as _backend

TOL = {torch.float64: 1e-12, torch.float32: 1e-5, torch.float16: 3e-3, torch.bfloat16: 2e-2}


def one_case(rng: random.Random, device: str, dtype) -> tuple:
    ns, nt = rng.randint(2, 3000), rng.randint(2, 3000)
    d = rng.choice([1, 2, 3, 7, 31, 64, 100, 256, 1000])
    m = rng.choice([1, 2, 5, 9, 33, 64])
    scale = rng.choice([1e-2, 1.0, 1e3])
    shift = rng.choice([0.3, 1.0])
    explicit = rng.random() < 0.5
    gen = torch.Generator().manual_seed(rng.randrange(2**31))
    xs = (torch.randn(ns, d, generator=gen, dtype=torch.float64) * scale).to(device, dtype).requires_grad_(True)
    xt = ((torch.randn(nt, d, generator=gen, dtype=torch.float64) + shift) * scale).to(device, dtype).requires_grad_(True)
    betas = torch.rand(m, generator=gen, dtype=torch.float64) + 0.01
    bw = (2 * d * scale**2) * 2.0 ** torch.linspace(-3, 3, m, dtype=torch.float64) if explicit else None
    st = dan_ext.mkmmd_linear_stats(xs, xt, bw, betas, kernel_num=m)
    gs, gt = torch.autograd.grad(st.loss, (xs, xt))
    rs, rt = xs.detach().double().requires_grad_(True), xt.detach().double().requires_grad_(True)
    ref = reference.mkmmd_linear_stats(rs, rt, bw, betas, kernel_num=m)
    rgs, rgt = torch.autograd.grad(ref.loss, (rs, rt))
    errs = {"loss": rel_err_beyond_rounding(st.loss, ref.loss), "d": rel_err_beyond_rounding(st.per_kernel, ref.per_kernel),
            "grad_s": rel_err_beyond_rounding(gs, rgs), "grad_t": rel_err_beyond_rounding(gt, rgt)}
    if st.num_tuples >= 2:
        errs["Q"] = rel_err_beyond_rounding(st.covariance, ref.covariance) / 10  # products of differences: 10x looser
    return (ns, nt, d, m, scale, explicit), errs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else time.time_ns() % 2**31
    rng = random.Random(seed)
    dtypes = [torch.float64, torch.float32] + ([torch.float16, torch.bfloat16] if args.device == "cuda" else [])
    _backend.POISON_OUTPUTS = True
    print(f"fresh_check: device={args.device} seed={seed} cases={args.cases}")
    worst = {}
    try:
        for k in range(args.cases):
            dtype = dtypes[k % len(dtypes)]
            case, errs = one_case(rng, args.device, dtype)
            bad = {k_: v for k_, v in errs.items() if not v < TOL[dtype]}
            w = max(errs.values())
            worst[dtype] = max(worst.get(dtype, 0.0), w)
            print(f"  {str(dtype)[6:]:9s} ns,nt,d,m,scale,explicit={case}: max rel err {w:.2e}" + (f"  FAIL {bad}" if bad else ""))
            if bad:
                return 1
    finally:
        _backend.POISON_OUTPUTS = False
    print("fresh_check: all passed; worst relative error per dtype: " +
          ", ".join(f"{str(k)[6:]} {v:.2e}" for k, v in worst.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
