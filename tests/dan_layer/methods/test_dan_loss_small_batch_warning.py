"""DANLoss(betas="learned") in the user's own loop: a batch too small for the variance Q that beta's
QP needs keeps beta at its start for ever; a warning, once, names the minimum."""
import warnings

import pytest
import torch

from dan.methods.dan_loss import DANLoss


def _train(fn, n, steps=3):
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        xs = torch.randn(n, 6, generator=gen, requires_grad=True)
        xt = torch.randn(n, 6, generator=gen) + 0.5
        fn(xs, xt).backward()
        fn.step()


@pytest.mark.parametrize("settings, n, minimum", [
    ({}, 2, 4),
    ({"estimator": "shifted"}, 2, 4),
    ({"estimator": "block", "block_size": 8}, 8, 16),
])
def test_a_batch_too_small_for_the_variance_warns_once_naming_the_minimum(settings, n, minimum):
    fn = DANLoss(beta_every=1, **settings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _train(fn, n)
    mine = [w for w in caught if issubclass(w.category, RuntimeWarning) and "DANLoss" in str(w.message)]
    assert len(mine) == 1
    assert f"at least {minimum} rows per domain" in str(mine[0].message) and f"got {n}" in str(mine[0].message)
    assert fn.betas["0"] == [0.2] * 5  # what the warning is about: beta was never learned


@pytest.mark.parametrize("settings, n", [({}, 4), ({"estimator": "unbiased"}, 2), ({"betas": "uniform"}, 2)])
def test_batches_that_give_the_variance_or_need_none_do_not_warn(settings, n):
    fn = DANLoss(beta_every=1, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _train(fn, n)
