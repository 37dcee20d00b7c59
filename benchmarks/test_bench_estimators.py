"""pytest-benchmark rows of the non-linear MK-MMD estimators: dan_ext.mkmmd(estimator=...) against the
float32 reference (dan_ext.estimators.reference) and the materialised peers of benchmarks/peers.py
(tllib_mkmmd: linear=True for "shifted", linear=False for "unbiased"; deepda_mmd for "biased"),
forward + backward (gradients w.r.t. both inputs), float32, m = 5, n rows per domain.

    pytest benchmarks/test_bench_estimators.py --benchmark-group-by=group

Rows are grouped by (estimator, device, n, d). Skipped with the reason: a materialised implementation whose
tensors would exceed 2 GB (estimator_table.materialised_bytes), and on the CPU a dan_ext case estimated to
take over a minute a call (estimator_table.estimate_seconds: n = 16384, d = 2048 for unbiased and biased;
n = 16384, d = 256 stays, the bounded-memory showcase). The grid, the callables and the skip rules are
benchmarks/estimator_table.py's, shared with the markdown table (which also measures peak memory).
tests/ops/estimators/test_estimator_benchmarks.py runs one tiny case of each row kind.
"""
import pytest
import torch

from benchmarks.estimator_table import DS, ESTIMATORS, NS, estimate_seconds, fwd_bwd, implementations_for, \
    make_inputs, skip_reason

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
CASES = [(dev, n, d, est, impl) for dev in DEVICES for est in ESTIMATORS for n in NS for d in DS
         for impl in implementations_for(est)]


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def _id(v):
    return str(v)


@pytest.mark.parametrize("device, n, d, estimator, impl", CASES, ids=_id)
def test_estimator(benchmark, device, n, d, estimator, impl):
    why = skip_reason(impl, estimator, n, d, device)
    if why is not None:
        pytest.skip(why)
    benchmark.group = f"{estimator} {device} n={n} d={d} m=5 float32 fwd+bwd"
    xs, xt = make_inputs(n, d, device)
    run = fwd_bwd(impl, estimator, xs, xt)

    def timed():
        run()
        _sync(device)

    timed()  # warm-up: allocator, first-call costs
    if device == "cpu" and estimate_seconds(impl, estimator, n, d, torch.get_num_threads()) > 1.0:
        benchmark.pedantic(timed, rounds=3, iterations=1)  # seconds a call: a few rounds, not pytest-benchmark's
    else:
        benchmark(timed)
