"""DAN's quadratic program for the kernel weights beta (Gretton et al. 2012; Long et al. 2015):

    minimise  beta^T (Q + eps I) beta   subject to   d^T beta = 1,  beta >= 0,

then rescale beta to sum to 1. Maximising the power of the linear-time test, d^T beta / sqrt(beta^T Q beta),
over the simplex is the same problem up to that rescaling. Solved exactly by a primal active-set
method (Nocedal & Wright, Algorithm 16.3): finite, no tolerances to tune, m up to a few hundred.

This is a pure function with no state. The DAN trainer's stateful solver (python/dan/methods/beta_solver.py) and
the two-sample test call it.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from dan_ext._checks import check_integer


class BetaSolution(NamedTuple):
    betas: Optional[np.ndarray]  # [m], non-negative, sums to 1; None when infeasible
    status: str                  # "optimal", or why there is no solution ("infeasible: ...", "non-finite input")
    iterations: int


def solve_beta_qp(d, Q, eps: float = 1e-3, max_iter: int = 1000) -> BetaSolution:
    """Exact solution of DAN's beta QP for per-kernel estimates ``d`` [m] and covariance ``Q`` [m, m].

    Infeasible (no positive d_u) or non-finite input gives ``betas=None`` and a status saying why;
    it never raises for such data. ``Q`` is symmetrised; ``eps`` > 0 makes the problem strictly convex.

    >>> import numpy as np
    >>> from dan_ext import solve_beta_qp
    >>> sol = solve_beta_qp([0.2, 0.1], np.diag([0.01, 0.04]))   # diagonal Q: beta_u ~ d_u / (Q_uu + eps)
    >>> sol.status, [round(float(b), 3) for b in sol.betas]
    ('optimal', [0.882, 0.118])
    >>> solve_beta_qp([-0.1, -0.2], np.eye(2)).betas is None     # no positive d: nothing to weigh
    True
    """
    max_iter = check_integer(max_iter, "max_iter", 1)
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    Q = np.asarray(Q, dtype=np.float64)
    m = d.shape[0]
    if Q.shape != (m, m):
        raise ValueError(f"Q must have shape ({m}, {m}) to match d, got {Q.shape}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    if not (np.isfinite(d).all() and np.isfinite(Q).all()):
        return BetaSolution(None, "non-finite input", 0)
    if not (d > 0).any():
        return BetaSolution(None, "infeasible: no kernel has a positive MMD estimate", 0)
    # The betas, once normalised to sum to 1, do not change when d is scaled by a positive number
    # (beta scales by the inverse): scaling the largest estimate to 1 keeps the start 1 / d_u
    # finite for subnormal estimates. A negative d_u that then overflows is capped: such a kernel
    # gets no weight either way.
    with np.errstate(over="ignore"):
        d = np.maximum(d / d.max(), -1e300)
    A = 0.5 * (Q + Q.T) + eps * np.eye(m)

    # Feasible start: all weight on the kernel with the largest estimate; every other beta_i = 0
    # is an active constraint.
    start = int(np.argmax(d))
    beta = np.zeros(m)
    beta[start] = 1.0 / d[start]
    active = np.ones(m, dtype=bool)
    active[start] = False
    for it in range(1, max_iter + 1):
        free = ~active
        F = np.flatnonzero(free)
        # Equality-constrained step on the free set: min (beta+p)^T A (beta+p), d_F^T p_F = 0.
        k = F.size
        K = np.zeros((k + 1, k + 1))
        K[:k, :k] = 2 * A[np.ix_(F, F)]
        K[:k, k] = d[F]
        K[k, :k] = d[F]
        rhs = np.concatenate([-2 * (A @ beta)[F], [0.0]])
        try:
            sol = np.linalg.solve(K, rhs)
        except np.linalg.LinAlgError:  # cannot happen for A positive definite; never raise mid-training
            return BetaSolution(None, "singular KKT system (ill-conditioned Q)", it)
        p_F, lam = sol[:k], -sol[k]
        scale = max(1.0, np.abs(beta).max())
        if np.abs(p_F).max() <= 1e-12 * scale:
            # Stationary on this face: check the multipliers of the active bounds.
            grad = 2 * (A @ beta)
            mu = grad - lam * d  # mu_i >= 0 for every active bound at the optimum
            mu[free] = np.inf
            i = int(np.argmin(mu))
            if mu[i] >= -1e-12 * max(1.0, np.abs(grad).max()):
                beta = np.clip(beta, 0.0, None)
                return BetaSolution(beta / beta.sum(), "optimal", it)
            active[i] = False
            continue
        # Longest step toward the face's minimiser that keeps beta >= 0.
        alpha, block = 1.0, -1
        for j, pj in zip(F, p_F):
            if pj < 0:
                a = -beta[j] / pj
                if a < alpha:
                    alpha, block = a, j
        beta[F] += alpha * p_F
        if block >= 0:
            beta[block] = 0.0
            active[block] = True
    return BetaSolution(None, f"no convergence in {max_iter} iterations", max_iter)


def power_ratio(betas, d, Q) -> float:
    """The linear-time test's power proxy d^T beta / sqrt(beta^T Q beta)."""
    b = np.asarray(betas, dtype=np.float64)
    return float(np.dot(d, b) / np.sqrt(max(b @ np.asarray(Q) @ b, 1e-300)))
