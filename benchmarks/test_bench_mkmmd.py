"""pytest-benchmark suite: ours against the reference and peers, like with like per group.

    pytest benchmarks/ --benchmark-group-by=group        # full grid (long)
    DAN_BENCH_GRID=quick pytest benchmarks/               # a small grid

Not part of the CI test command (too slow and too noisy on a shared machine); tests/test_benchmarks_smoke.py
checks that this module imports and that one tiny case runs.
"""
import pytest
import torch

from benchmarks.cases import grid, implementations, make_inputs, step

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
CASES = [(dev, *c) for dev in DEVICES for c in grid(dev)]
IMPLS = ["dan_ext", "reference", "quadratic_mkmmd (TLL-style, B x B)", "pytorch-adapt MMDLoss linear"]


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


@pytest.mark.parametrize("backward", [True, False], ids=["fwd+bwd", "fwd"])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("device, n, d, m, dtype", CASES, ids=lambda v: str(v).replace("torch.", ""))
def test_mkmmd(benchmark, device, n, d, m, dtype, impl, backward):
    xs, xt = make_inputs(n, d, dtype, device)
    impls = implementations(xs, xt, m)
    if impl not in impls:
        pytest.skip(f"{impl} is not installed or does not apply at n={n}, {dtype}")
    benchmark.group = f"{device} n={n} d={d} m={m} {str(dtype)[6:]} {'fwd+bwd' if backward else 'fwd'}"
    run = step(impls[impl], backward, (xs, xt))

    def timed():
        run()
        _sync(device)

    timed()  # warm-up: allocator, first-call costs
    benchmark(timed)
