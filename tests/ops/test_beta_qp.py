"""DAN's beta QP against an independent exact solution and the KKT conditions."""
import itertools

import numpy as np
import pytest

from dan_ext import power_ratio, solve_beta_qp


def _random_problem(rng, m):
    X = rng.normal(size=(3 * m, m))
    Q = X.T @ X / (3 * m) * rng.uniform(0.01, 1.0)
    d = rng.normal(loc=0.3, scale=1.0, size=m)
    if not (d > 0).any():
        d[rng.integers(m)] = abs(d).max() + 0.1
    return d, Q


def _enumerate_active_sets(d, Q, eps):
    """Brute force: for every support S solve the equality-constrained problem in closed form
    (beta_S proportional to A_SS^-1 d_S), keep the feasible ones, return the best."""
    m = len(d)
    A = 0.5 * (Q + Q.T) + eps * np.eye(m)
    best, best_val = None, np.inf
    for k in range(1, m + 1):
        for S in itertools.combinations(range(m), k):
            S = list(S)
            x = np.linalg.solve(A[np.ix_(S, S)], d[S])
            denom = d[S] @ x
            if denom <= 0:
                continue
            beta = np.zeros(m)
            beta[S] = x / denom
            if (beta < -1e-12).any():
                continue
            val = beta @ A @ beta
            if val < best_val:
                best, best_val = beta, val
    return best / best.sum()


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6])
def test_matches_enumeration_of_active_sets(m):
    rng = np.random.default_rng(m)
    for _ in range(40):
        d, Q = _random_problem(rng, m)
        sol = solve_beta_qp(d, Q)
        assert sol.status == "optimal"
        np.testing.assert_allclose(sol.betas, _enumerate_active_sets(d, Q, 1e-3), atol=1e-8)


@pytest.mark.parametrize("m", [2, 5, 17, 33, 64])
def test_kkt_conditions_and_power(m):
    rng = np.random.default_rng(100 + m)
    eps = 1e-3
    for _ in range(10):
        d, Q = _random_problem(rng, m)
        sol = solve_beta_qp(d, Q, eps=eps)
        b = sol.betas
        assert sol.status == "optimal" and (b >= 0).all() and abs(b.sum() - 1) < 1e-12
        # KKT for the unscaled problem: beta' = b / (d.b): 2 A beta' - lam d - mu = 0, mu >= 0, mu.beta' = 0.
        A = 0.5 * (Q + Q.T) + eps * np.eye(m)
        bp = b / (d @ b)
        grad = 2 * A @ bp
        lam = 2 * bp @ A @ bp  # from d.beta' = 1 and complementarity
        mu = grad - lam * d
        scale = np.abs(grad).max()
        assert (mu >= -1e-6 * scale).all()
        assert np.abs(mu[bp > 1e-10]).max() < 1e-6 * scale
        uniform = np.full(m, 1.0 / m)
        if d @ uniform > 0:
            assert power_ratio(b, d, Q + eps * np.eye(m)) >= power_ratio(uniform, d, Q + eps * np.eye(m)) - 1e-9


def test_infeasible_and_non_finite_report_instead_of_raising():
    sol = solve_beta_qp([-0.1, -0.2], np.eye(2))
    assert sol.betas is None and sol.status.startswith("infeasible")
    sol = solve_beta_qp([0.1, np.nan], np.eye(2))
    assert sol.betas is None and sol.status == "non-finite input"
    sol = solve_beta_qp([0.1, 0.2], np.full((2, 2), np.inf))
    assert sol.betas is None and sol.status == "non-finite input"


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="Q must have shape"):
        solve_beta_qp([0.1, 0.2], np.eye(3))
    with pytest.raises(ValueError, match="eps must be positive"):
        solve_beta_qp([0.1, 0.2], np.eye(2), eps=0)


@pytest.mark.parametrize("d", [[5e-324, -1.0], [1e-300, -1e300, 1e-301], [1e300, 1e-300, -5.0]])
def test_extreme_scales_are_solved_not_raised(d):
    """solve_beta_qp([5e-324, -1], 1e-6 I) raised LinAlgError (1 / d overflowed). With Q a
    multiple of I the exact solution is beta proportional to max(d, 0), at any scale of d."""
    d = np.asarray(d)
    Q = 1e-6 * np.eye(len(d))
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # none on the way either
        sol = solve_beta_qp(d, Q)
    assert sol.status == "optimal", sol
    exact = np.maximum(d, 0) / np.maximum(d, 0).sum()
    np.testing.assert_allclose(sol.betas, exact, rtol=1e-9, atol=1e-12)
