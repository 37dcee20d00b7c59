"""DANLoss given features it cannot take says what it takes, in one line naming what was given."""
import numpy as np
import pytest
import torch

from dan.methods.dan_loss import DANLoss

A = np.zeros((8, 3), dtype=np.float32)
T = torch.zeros(8, 3)


@pytest.mark.parametrize("source, target, given", [
    (A, A, "got ndarray"),
    ([A], [A], "got a list holding ndarray"),
    ({"0": A}, {"0": A}, "got a dict holding ndarray"),
    (T.tolist(), T.tolist(), "got a list holding list"),
])
def test_features_that_are_not_tensors_are_named(source, target, given):
    with pytest.raises(TypeError, match=rf"^DANLoss source features must be torch tensors \(a tensor, or a dict or list "
                                        rf"of them\), {given}$"):
        DANLoss()(source, target)


def test_a_counted_dan_loss_given_dicts_says_how_to_name_the_layers():
    with pytest.raises(ValueError, match=r"^DANLoss\(layers=2\) takes a tensor or a list of 2 tensor\(s\), got dicts: "
                                         r"for dicts of features give the layers' names, DANLoss\(layers=\(name, \.\.\.\)\)$"):
        DANLoss(layers=2)({"a": T, "b": T}, {"a": T, "b": T})


def test_tensors_lists_and_named_dicts_still_work():
    assert torch.isfinite(DANLoss()(torch.randn(8, 3), torch.randn(8, 3)))
    assert torch.isfinite(DANLoss(layers=2)([torch.randn(8, 3)] * 2, [torch.randn(8, 3)] * 2))
    assert torch.isfinite(DANLoss(layers=["a"])({"a": torch.randn(8, 3)}, {"a": torch.randn(8, 3)}))
    assert float(DANLoss(layers=0)([], [])) == 0
