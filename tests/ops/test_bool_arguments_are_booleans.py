"""Boolean arguments take True or False only: "no" is truthy, and taking it as True would do the
opposite of what was asked, silently."""
import numpy as np
import pytest
import torch

import dan_ext

X = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
Y = torch.randn(16, 3, generator=torch.Generator().manual_seed(1)) + 1


@pytest.mark.parametrize("value", ["no", "False", 0, 1, None, torch.tensor(True)])
def test_mmd_test_refuses_a_learn_betas_that_is_not_a_bool(value):
    with pytest.raises(ValueError, match=r"^learn_betas must be True or False, got"):
        dan_ext.mmd_test(X, Y, learn_betas=value)


@pytest.mark.parametrize("estimator", ["linear", "unbiased"])
def test_mkmmd_stats_refuses_a_covariance_that_is_not_a_bool(estimator):
    with pytest.raises(ValueError, match=r"^covariance must be True or False, got 'no'"):
        dan_ext.mkmmd_stats(X, Y, estimator=estimator, covariance="no")


def test_real_booleans_are_taken():
    assert dan_ext.mmd_test(X, Y, learn_betas=False).beta_status == "uniform"
    assert dan_ext.mmd_test(X, Y, learn_betas=np.bool_(False)).beta_status == "uniform"
    assert dan_ext.mkmmd_stats(X, Y, covariance=False).covariance is None


@pytest.mark.parametrize("kwargs, needle", [
    ({"beta_eps": True}, "beta_eps must be a finite number > 0"),
    ({"beta_every": True}, "beta_every must be an integer >= 1"),
    ({"kernel_num": True}, "kernel_num must be an integer"),
    ({"kernel_mul": True}, "kernel_mul must be a finite positive number"),
])
def test_dan_loss_takes_no_bool_for_a_number(kwargs, needle):
    from dan.methods.dan_loss import DANLoss

    with pytest.raises(ValueError, match=needle):
        DANLoss(**kwargs)
