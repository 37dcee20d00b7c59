"""All-zero kernel weights make every MMD estimate exactly 0: one rule refuses them everywhere."""
import pytest
import torch

import dan_ext
from dan.methods.dan_loss import DANLoss

GEN = torch.Generator().manual_seed(0)
X, Y = torch.randn(8, 3, generator=GEN), torch.randn(8, 3, generator=GEN) + 1


@pytest.mark.parametrize("call, needle", [
    (lambda: dan_ext.mkmmd(X, Y, betas=[0, 0], kernel_num=2), r"^betas must be finite and non-negative, not all zero"),
    (lambda: dan_ext.mkmmd(X, Y, betas=torch.zeros(5), estimator="unbiased"), r"^betas must be .*not all zero"),
    (lambda: dan_ext.mkmmd_linear(X, Y, betas=[0.0] * 5), r"^betas must be .*not all zero"),
    (lambda: dan_ext.jmmd_linear([X, X], [Y, Y], betas=[[0] * 5, None]), r"^betas\[0\] must be .*not all zero"),
    (lambda: dan_ext.MKMMDLoss(betas=[0] * 5), r"^betas must be .*not all zero"),
    (lambda: DANLoss(betas=[0] * 5), r"betas must be 5 finite non-negative numbers, not all zero"),
])
def test_all_zero_betas_are_refused_by_every_entry_point(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()


def test_some_zero_betas_are_still_taken():
    d = dan_ext.mkmmd_stats(X, Y, kernel_num=2).per_kernel
    assert float(dan_ext.mkmmd(X, Y, betas=[0, 1], kernel_num=2)) == pytest.approx(float(d[1]))
