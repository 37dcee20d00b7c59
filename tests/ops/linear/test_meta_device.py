"""Meta tensors (shape-only: model summaries, FakeTensor-style dry runs, allocation planning): every
estimator, the linear op's statistics and the joint MMD give meta results of the right shapes,
differentiate, and warn of nothing (no compiled kernel is missing: meta has nothing to compute)."""
import warnings

import pytest
import torch

import dan_ext
import dan_ext.linear.backend

N_S, N_T, D, M = 12, 10, 6, 5


@pytest.fixture(autouse=True)
def _fallback_warning_armed(monkeypatch):
    """The fallback warning fires once per process: re-arm it so each test sees whether it would fire."""
    monkeypatch.setattr(dan_ext.linear.backend, "_warned", False)


def _meta(*shape, grad=False):
    return torch.empty(*shape, device="meta", requires_grad=grad)


@pytest.mark.parametrize("estimator", dan_ext.ESTIMATORS)
def test_every_estimator_runs_on_meta_without_warning(estimator):
    source, target = _meta(N_S, D, grad=True), _meta(N_T, D, grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback warning would fail here
        loss = dan_ext.mkmmd(source, target, estimator=estimator)
        loss.backward()
        stats = dan_ext.mkmmd_stats(source.detach(), target.detach(), estimator=estimator)
        gbar = dan_ext.estimator_mean_sqdist(source.detach(), target.detach(), estimator=estimator)
    assert loss.device.type == "meta" and loss.shape == ()
    assert source.grad.shape == (N_S, D) and target.grad.shape == (N_T, D)
    assert source.grad.device.type == "meta"
    assert stats.per_kernel.shape == (M,) and stats.covariance.shape == (M, M) and stats.bandwidths.shape == (M,)
    assert gbar.device.type == "meta" and gbar.shape == ()


def test_block_estimator_on_meta_with_explicit_block_size():
    source, target = _meta(N_S, D, grad=True), _meta(N_T, D)
    loss = dan_ext.mkmmd(source, target, estimator="block", block_size=5)
    loss.backward()
    assert loss.shape == () and source.grad.shape == (N_S, D) and target.grad is None


def test_joint_mmd_runs_on_meta_without_warning():
    sources = [_meta(N_S, D, grad=True), _meta(N_S, 3, grad=True)]
    targets = [_meta(N_S, D, grad=True), _meta(N_S, 3, grad=True)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = dan_ext.jmmd_linear(sources, targets)
        loss.backward()
    assert loss.device.type == "meta" and loss.shape == ()
    assert [s.grad.shape for s in sources] == [(N_S, D), (N_S, 3)]
