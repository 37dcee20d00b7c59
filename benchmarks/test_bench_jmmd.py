"""pytest-benchmark rows of the joint MMD (JAN): dan_ext.jmmd_linear against the plain-PyTorch reference
(in the inputs' dtype, no float64) and a materialised joint kernel of Transfer-Learning-Library's kind,
forward + backward to every layer, at JAN's layers (256 features, 31-class softmax; 5 and 1 kernels).

    pytest benchmarks/test_bench_jmmd.py --benchmark-group-by=group
"""
import pytest
import torch

from benchmarks.cases import JMMD_IMPLS, joint_grid, joint_implementations, make_joint_inputs, step

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
CASES = [(dev, *c) for dev in DEVICES for c in joint_grid(dev)]


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


@pytest.mark.parametrize("impl", JMMD_IMPLS)
@pytest.mark.parametrize("device, n, dims, ms, dtype", CASES, ids=lambda v: str(v).replace("torch.", ""))
def test_jmmd(benchmark, device, n, dims, ms, dtype, impl):
    sources, targets = make_joint_inputs(n, dims, dtype, device)
    impls = joint_implementations(sources, targets, ms)
    if impl not in impls:
        pytest.skip(f"{impl} does not apply at n={n}, {dtype}")
    benchmark.group = f"jmmd {device} n={n} d={dims} m={ms} {str(dtype)[6:]} fwd+bwd"
    run = step(impls[impl], True, (*sources, *targets))

    def timed():
        run()
        _sync(device)

    timed()  # warm-up: allocator, first-call costs
    benchmark(timed)
