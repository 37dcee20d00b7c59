"""The stateful beta solver of DAN training: accumulate the op's per-kernel estimates d and
covariance Q over K steps, then solve DAN's QP (dan_ext.solve_beta_qp). Never raises in the
middle of training: an infeasible or non-finite problem keeps the previous beta and says why."""
from __future__ import annotations

import numbers

import numpy as np
import torch

from dan_ext import solve_beta_qp


class BetaSolver:
    def __init__(self, kernel_num: int, eps: float = 1e-3):
        self.kernel_num = kernel_num
        self.eps = eps
        self.betas = np.full(kernel_num, 1.0 / kernel_num)
        self.last_status = "uniform (not solved yet)"
        self.solves = 0
        self.fallbacks = 0
        self.reset()

    def reset(self) -> None:
        self._d = np.zeros(self.kernel_num)
        self._Q = np.zeros((self.kernel_num, self.kernel_num))
        self._count = 0

    def fix(self, betas, why: str = "--fixed-betas") -> None:
        """Use these weights for good: nothing is accumulated or solved. ``why`` names where they
        came from in the status."""
        self.betas = np.asarray(betas, dtype=np.float64)
        self.last_status = f"fixed ({why})"

    def accumulate(self, per_kernel: torch.Tensor, covariance: torch.Tensor) -> None:
        self._d += per_kernel.detach().double().cpu().numpy()
        self._Q += covariance.detach().double().cpu().numpy()
        self._count += 1

    def solve(self) -> str:
        """Solve from what was accumulated since the last solve; returns the status."""
        if self._count == 0:
            return self.last_status
        sol = solve_beta_qp(self._d / self._count, self._Q / self._count, eps=self.eps)
        self.reset()
        if sol.betas is not None:
            self.betas = sol.betas
            self.solves += 1
            self.last_status = "optimal"
        else:
            self.fallbacks += 1
            self.last_status = f"kept previous beta: {sol.status}"
        return self.last_status

    def tensor(self) -> torch.Tensor:
        """The current betas as a CPU float64 tensor: the op's value checks then need no device sync."""
        return torch.as_tensor(self.betas, dtype=torch.float64)

    def state_dict(self) -> dict:
        # tensors, not numpy arrays: checkpoints are loaded with weights_only=True
        return {"betas": torch.from_numpy(self.betas.copy()), "d": torch.from_numpy(self._d.copy()),
                "Q": torch.from_numpy(self._Q.copy()), "count": self._count,
                "last_status": self.last_status, "solves": self.solves, "fallbacks": self.fallbacks}

    def load_state_dict(self, state: dict) -> None:
        """A checkpoint is untrusted: every key must be present and of this solver's kind, and the
        betas on the simplex (the penalty is multiplied by their sum: weights summing to 7 would
        multiply it by 7). Each refusal is one line naming the key and what is allowed."""
        if not isinstance(state, dict):
            raise ValueError(f"beta solver state must be a dict, got {type(state).__name__}")
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise ValueError(f"beta solver state lacks {', '.join(map(repr, missing))} (it needs "
                             f"{', '.join(_STATE_KEYS)})")
        m = len(self.betas)
        arrays = {key: _numbers(state[key], key, shape) for key, shape in
                  (("betas", (m,)), ("d", (m,)), ("Q", (m, m)))}  # its arrays must be this solver's
        check_simplex(arrays["betas"], "beta solver state 'betas'")
        counts = {k: state[k] for k in ("count", "solves", "fallbacks")}
        for key, value in counts.items():  # numpy integers too (DANLoss.step takes them), stored as int
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"beta solver state {key!r} must be an integer >= 0, got {value!r}")
            counts[key] = int(value)
        if not isinstance(state["last_status"], str):
            raise ValueError(f"beta solver state 'last_status' must be a string, got {_describe(state['last_status'])}")
        self.betas, self._d, self._Q = arrays["betas"], arrays["d"], arrays["Q"]
        self._count, self.solves, self.fallbacks = counts["count"], counts["solves"], counts["fallbacks"]
        self.last_status = state["last_status"]


_STATE_KEYS = ("betas", "d", "Q", "count", "last_status", "solves", "fallbacks")
SIMPLEX_TOL = 1e-6  # the QP's betas sum to 1 within float64 rounding; 1e-6 leaves room for a float32 copy


def check_simplex(betas: np.ndarray, what: str) -> None:
    """Kernel weights as DAN uses them: finite, non-negative and summing to 1 (within SIMPLEX_TOL)."""
    if not (np.isfinite(betas).all() and (betas >= 0).all() and abs(betas.sum() - 1.0) <= SIMPLEX_TOL):
        raise ValueError(f"{what} must be finite, non-negative and sum to 1 (within {SIMPLEX_TOL:g}), got "
                         f"{betas.tolist()}")


def _numbers(value, key: str, shape: tuple) -> np.ndarray:
    """A state's array as float64 of ``shape`` (d and Q may hold NaN: a window of non-finite input).
    An array's shape is checked before any copy: a tampered Q may be a huge expanded view. Complex
    values are refused (casting would drop the imaginary part with only a warning), and so is a
    tensor on the meta device, which has no data to copy."""
    arr = None
    if not isinstance(value, (torch.Tensor, np.ndarray)):
        value = np.asarray(value) if _is_plain_list(value) else value
    if isinstance(value, (torch.Tensor, np.ndarray)) and (value.dtype.is_complex if isinstance(value, torch.Tensor)
                                                          else np.iscomplexobj(value)):
        raise ValueError(f"beta solver state {key!r} must be real numbers, got dtype {value.dtype}")
    if isinstance(value, torch.Tensor) and value.is_meta:
        raise ValueError(f"beta solver state {key!r} must be an array of numbers of shape {shape}, got a tensor on "
                         "the meta device (no data)")
    if not isinstance(value, (torch.Tensor, np.ndarray)) or tuple(value.shape) == shape:
        try:
            arr = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64)
        except (TypeError, ValueError):
            pass
    if arr is None or arr.shape != shape:
        raise ValueError(f"beta solver state {key!r} must be an array of numbers of shape {shape}, got "
                         f"{_describe(value)}")
    return arr


def _is_plain_list(value) -> bool:
    """A (nested) list or tuple of Python numbers: small, so read as an array to check its dtype."""
    try:
        return isinstance(value, (list, tuple)) and np.asarray(value).dtype.kind in "biufc"
    except (TypeError, ValueError):  # ragged
        return False


def _describe(value) -> str:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"shape {tuple(np.shape(value))}"
    return f"{type(value).__name__} {value!r}"[:80]
