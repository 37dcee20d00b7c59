"""A DANLoss state is untrusted: betas off the simplex (or not the fixed ones), missing keys and
counts that are not integers are refused in one line naming the key, and nothing is replaced."""
import pytest
import torch

from dan.methods.dan_loss import DANLoss


def _trained_state(**settings):
    fn = DANLoss(beta_every=1, **settings)
    gen = torch.Generator().manual_seed(0)
    fn(torch.randn(16, 4, generator=gen), torch.randn(16, 4, generator=gen) + 1)
    fn.step()
    return fn.state_dict()


def _solver(state):
    return state["_extra_state"]["solvers"]["0"]


@pytest.mark.parametrize("change, needle", [
    (lambda s: s.update(betas=torch.tensor([7.0, 0, 0, 0, 0])), "'betas' must be finite, non-negative and sum to 1"),
    (lambda s: s.update(betas=torch.tensor([1.5, -0.5, 0, 0, 0])), "'betas' must be finite, non-negative"),
    (lambda s: s.update(betas=torch.tensor([float("nan"), 0, 0, 0, 1])), "'betas' must be finite"),
    (lambda s: s.pop("Q"), "lacks 'Q'"),
    (lambda s: s.update(count="x"), "'count' must be an integer >= 0, got 'x'"),
    (lambda s: s.update(solves=-1), "'solves' must be an integer >= 0"),
    (lambda s: s.update(last_status=3), "'last_status' must be a string"),
    (lambda s: s.update(Q=[["a"] * 5] * 5), "'Q' must be an array of numbers of shape \\(5, 5\\), got list"),
    (lambda s: s.update(d=torch.zeros(4)), "'d' must be an array of numbers of shape \\(5,\\), got shape \\(4,\\)"),
])
def test_a_tampered_learned_state_is_refused_in_one_line(change, needle):
    state = _trained_state()
    change(_solver(state))
    fn = DANLoss(beta_every=1)
    before = fn.state_dict()
    with pytest.raises(ValueError, match=needle) as err:
        fn.load_state_dict(state)
    assert "\n" not in str(err.value) and "layer '0'" in str(err.value)
    after = fn.state_dict()["_extra_state"]["solvers"]["0"]
    assert torch.equal(after["betas"], _solver(before)["betas"]) and after["count"] == _solver(before)["count"]


def test_a_good_state_still_loads():
    state = _trained_state()
    fn = DANLoss(beta_every=1)
    fn.load_state_dict(state)
    assert fn.betas["0"] == _solver(state)["betas"].tolist()


@pytest.mark.parametrize("settings", [{"betas": "uniform"}, {"betas": [1, 0, 0, 0, 1]}])
def test_kept_weights_other_than_the_settings_are_refused(settings):
    state = DANLoss(**settings).state_dict()
    _solver(state)["betas"] = torch.tensor([0.0, 0, 1, 0, 0], dtype=torch.float64)  # on the simplex, not theirs
    with pytest.raises(ValueError, match="are not this DANLoss's"):
        DANLoss(**settings).load_state_dict(state)


def test_a_layer_state_that_is_not_a_dict_is_refused():
    state = _trained_state()
    state["_extra_state"]["solvers"]["0"] = "x"
    with pytest.raises(ValueError, match=r"^DANLoss state of layer '0': beta solver state must be a dict, got str$"):
        DANLoss(beta_every=1).load_state_dict(state)
