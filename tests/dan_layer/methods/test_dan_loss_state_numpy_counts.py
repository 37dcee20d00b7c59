"""DANLoss.step takes numpy integers (a counter kept in numpy); a state whose step count or solver
counts are numpy integers (such a counter saved into a hand-made or converted state) was refused
with "'count' must be an integer >= 0, got np.int64(3)", which reads as a contradiction. They load
as the same integers; bools, floats and negatives are still refused."""
import copy

import numpy as np
import pytest

from dan.methods.dan_loss import DANLoss


def _state(**solver_values):
    state = copy.deepcopy(DANLoss().state_dict())
    extra = state["_extra_state"]
    if "steps" in solver_values:
        extra["steps"] = solver_values.pop("steps")
    extra["solvers"]["0"].update(solver_values)
    return state


def test_numpy_integer_counts_load_as_ints():
    loss = DANLoss()
    loss.load_state_dict(_state(steps=np.int64(7), count=np.int32(3), solves=np.uint8(2), fallbacks=np.int64(0)))
    assert loss.steps == 7 and type(loss.steps) is int
    solver = loss.solvers["0"]
    assert (solver._count, solver.solves, solver.fallbacks) == (3, 2, 0)
    assert all(type(v) is int for v in (solver._count, solver.solves, solver.fallbacks))
    loss.step()
    assert loss.steps == 8


@pytest.mark.parametrize("key, value", [("count", np.int64(-1)), ("count", np.float64(3.0)), ("count", np.bool_(True)),
                                        ("solves", True)])
def test_other_counts_are_still_refused(key, value):
    with pytest.raises(ValueError, match=rf"'{key}' must be an integer >= 0"):
        DANLoss().load_state_dict(_state(**{key: value}))


@pytest.mark.parametrize("steps", [np.int64(-2), 2.0, True])
def test_other_step_counts_are_still_refused(steps):
    with pytest.raises(ValueError, match="'steps' must be an integer >= 0"):
        DANLoss().load_state_dict(_state(steps=steps))
