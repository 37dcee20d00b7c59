"""A loaded DANLoss state's arrays must be real numbers that can be read: complex betas lost their
imaginary part with only numpy's warning (betas [1+5j, 0, 0, 0, 0] loaded as [1, 0, 0, 0, 0]), and
a tensor on the meta device (no data) gave torch's raw NotImplementedError."""
import copy
import warnings

import pytest
import torch

from dan.methods.dan_loss import DANLoss


def _state_with(key, value):
    state = DANLoss().state_dict()
    state = copy.deepcopy(state)
    state["_extra_state"]["solvers"]["0"][key] = value
    return state


@pytest.mark.parametrize("key, value", [
    ("betas", torch.tensor([1 + 5j, 0, 0, 0, 0], dtype=torch.complex128)),
    ("d", torch.zeros(5, dtype=torch.complex64)),
    ("Q", torch.zeros(5, 5, dtype=torch.complex128)),
])
def test_complex_arrays_are_refused_and_nothing_is_loaded(key, value):
    loss = DANLoss()
    before = loss.state_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning on the way to the refusal
        with pytest.raises(ValueError, match=rf"layer '0': beta solver state '{key}' must be real numbers, got "
                                             rf"dtype torch.complex"):
            loss.load_state_dict(_state_with(key, value))
    assert torch.equal(loss.state_dict()["_extra_state"]["solvers"]["0"]["betas"],
                       before["_extra_state"]["solvers"]["0"]["betas"])


def test_complex_numpy_and_python_values_are_refused():
    import numpy as np

    with pytest.raises(ValueError, match="'betas' must be real numbers, got dtype complex128"):
        DANLoss().load_state_dict(_state_with("betas", np.full(5, 0.2 + 0j)))
    with pytest.raises(ValueError, match="'betas' must be real numbers"):
        DANLoss().load_state_dict(_state_with("betas", [0.2 + 1j] * 5))


def test_a_meta_tensor_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"beta solver state 'Q' must be an array of numbers of shape \(5, 5\), "
                                         r"got a tensor on the meta device \(no data\)"):
        DANLoss().load_state_dict(_state_with("Q", torch.zeros(5, 5, dtype=torch.float64, device="meta")))


def test_real_arrays_of_other_float_types_still_load():
    loss = DANLoss()
    loss.load_state_dict(_state_with("betas", torch.full((5,), 0.2, dtype=torch.float32)))
    assert loss.betas["0"] == pytest.approx([0.2] * 5)
