"""The all-pairs estimators hold O(N d) for the centred rows (and the gradient) and a bounded scratch
beyond: the float64 centring and the gradient's temporaries are cut by bytes (CENTRE_BYTES,
STRIPE_BYTES), not rows, so a wide layer (d = 10^5 and up) does not multiply the inputs' memory.
The cuts must not change the result."""
import subprocess
import sys

import pytest
import torch

import dan_ext
from dan_ext import _allpairs

_PEAK = """
import resource, sys, torch, dan_ext
est, grad, d = sys.argv[1], sys.argv[2] == "grad", 500_000
g = torch.Generator().manual_seed(0)
xs, xt = torch.randn(64, d, generator=g).requires_grad_(grad), torch.randn(64, d, generator=g) + 0.1
dan_ext.mkmmd(xs[:, :8].detach(), xt[:, :8], estimator=est)  # loads and warms up the op
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
v = dan_ext.mkmmd(xs, xt, estimator=est)
if grad:
    v.backward()
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024)
"""
INPUT_BYTES = 2 * 64 * 500_000 * 4  # source and target, float32: 256 MB


@pytest.mark.parametrize("est, grad, most", [
    ("unbiased", "", 1.5),      # the centred rows (1x) and scratch; before: 4.3x (two float64 copies of every row)
    ("block", "", 1.5),         # before: 4.6x (the bandwidths' float64 copies too)
    ("unbiased", "grad", 2.5),  # and the gradient (1x); before: 4.3x
])
def test_peak_memory_of_a_wide_layer_stays_near_the_inputs(est, grad, most):
    out = subprocess.run([sys.executable, "-P", "-c", _PEAK, est, grad], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    peak = int(out.stdout.split()[-1])
    assert peak < most * INPUT_BYTES, f"{est} {grad}: peak +{peak / 2**20:.0f} MB for {INPUT_BYTES / 2**20:.0f} MB of inputs"


def _all(est, s, t, kw):
    s, t = s.clone().requires_grad_(True), t.clone().requires_grad_(True)
    st = dan_ext.mkmmd_stats(s, t, estimator=est, **kw)
    st.loss.backward()
    gbar = dan_ext.estimator_mean_sqdist(s, t, estimator=est, **kw)
    return st, s.grad, t.grad, gbar


@pytest.mark.parametrize("est", ("block", "unbiased", "biased"))
def test_cuts_by_bytes_give_the_same_result(est, monkeypatch):
    gen = torch.Generator().manual_seed(3)
    s, t = torch.randn(24, 40, generator=gen, dtype=torch.float64), torch.randn(20, 40, generator=gen, dtype=torch.float64)
    kw = {"block_size": 4} if est == "block" else {}
    whole = _all(est, s, t, kw)
    monkeypatch.setattr(_allpairs, "CENTRE_BYTES", 8 * 44 * 3)   # three columns at a time
    monkeypatch.setattr(_allpairs, "STRIPE_BYTES", 3 * 40 * 8 * 5)  # five rows of gradient temporaries
    cut = _all(est, s, t, kw)
    for a, b in zip(whole, cut):
        for x, y in ((a.per_kernel, b.per_kernel), (a.covariance, b.covariance), (a.bandwidths, b.bandwidths)) \
                if hasattr(a, "per_kernel") else ((a, b),):
            assert float((x - y).norm() / y.norm()) < 1e-12, (x, y)  # as a whole: single entries cancel
