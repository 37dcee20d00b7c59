"""DANLoss.step(step): the number of the optimiser step just made, counted from 1."""
import numpy as np
import pytest
import torch

from dan.methods.dan_loss import DANLoss


@pytest.mark.parametrize("bad", [-5, 0, 2.7, "10", True, 3.0, torch.tensor(3)])
def test_a_step_that_is_not_an_integer_from_1_is_refused(bad):
    fn = DANLoss(beta_every=1)
    fn(torch.randn(8, 3), torch.randn(8, 3))
    with pytest.raises(ValueError, match=r"step is the number of the optimiser step just made, counted from 1"):
        fn.step(bad)
    assert fn.steps == 0 and fn.solvers["0"].solves + fn.solvers["0"].fallbacks == 0


def test_integer_steps_are_taken():
    fn = DANLoss(beta_every=2)
    fn(torch.randn(8, 3), torch.randn(8, 3))
    fn.step(np.int64(4))
    assert fn.steps == 4 and fn.solvers["0"].solves + fn.solvers["0"].fallbacks == 1
    fn.step()
    assert fn.steps == 5
