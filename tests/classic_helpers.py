"""Small two-domain data and a dense float64 statement of the MMD objectives, independent of dan.classic."""
import numpy as np
import scipy.linalg
from scipy.spatial.distance import cdist, pdist


def two_domains(ns=40, nt=30, d=5, classes=3, shift=1.5, seed=0):
    """(X, y, sample_domain, yt): class blobs, the target moved and stretched; y has -1 on target rows."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(classes, d))
    ys, yt = rng.integers(0, classes, ns), rng.integers(0, classes, nt)
    xs = centres[ys] + rng.normal(size=(ns, d))
    xt = 1.3 * (centres[yt] + rng.normal(size=(nt, d))) + shift
    x = np.vstack([xs, xt])
    y = np.r_[ys, -np.ones(nt, dtype=int)]
    sd = np.r_[np.ones(ns, dtype=int), -np.ones(nt, dtype=int)]
    return x, y, sd, yt


def dense_mmd_matrix(sd, labels=None, marginal=1.0, conditional=0.0):
    """M from its entry-wise definition (CLASSIC.md), divided by its Frobenius norm."""
    n = len(sd)
    src, tgt = sd > 0, sd < 0
    m = np.zeros((n, n))
    if marginal:
        e = np.where(src, 1.0 / src.sum(), -1.0 / tgt.sum())
        m += marginal * np.outer(e, e)
    if conditional and labels is not None:
        for c in np.unique(labels[src & (labels >= 0)]):
            s, t = src & (labels == c), tgt & (labels == c)
            if not (s.any() and t.any()):
                continue
            mc = np.zeros((n, n))
            mc[np.ix_(s, s)] = 1.0 / s.sum() ** 2
            mc[np.ix_(t, t)] = 1.0 / t.sum() ** 2
            mc[np.ix_(s, t)] = -1.0 / (s.sum() * t.sum())
            mc[np.ix_(t, s)] = -1.0 / (s.sum() * t.sum())
            m += conditional * mc
    return m / np.linalg.norm(m, "fro")


def dense_kernel(x, kernel):
    if kernel == "primal":
        return x
    if kernel == "linear":
        return x @ x.T
    gbar = np.mean(pdist(x, "sqeuclidean"))
    return np.exp(-cdist(x, x, "sqeuclidean") / gbar)


def pencil(x, sd, mu, kernel, labels=None, marginal=1.0, conditional=0.0):
    """(A, B) with A = Phi^T H Phi, B = Phi^T M Phi + mu I, Phi the data or the kernel matrix."""
    phi = dense_kernel(x, kernel)
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    m = dense_mmd_matrix(sd, labels, marginal, conditional)
    return phi.T @ h @ phi, phi.T @ m @ phi + mu * np.eye(phi.shape[1])


def check_eigen_equation(components, values, a, b, rtol=1e-6):
    """A W = B W diag(values), and the values are the top ones of the dense pencil."""
    k = components.shape[1]
    lhs, rhs = a @ components, b @ components * values
    assert np.linalg.norm(lhs - rhs) <= rtol * np.linalg.norm(lhs)
    top = scipy.linalg.eigh(a, b, eigvals_only=True)[::-1][:k]
    np.testing.assert_allclose(values, top, rtol=1e-6, atol=1e-9 * abs(top[0]))


def mmd2(zs, zt):
    """Linear-kernel MMD^2: the squared distance between the domain means."""
    return float(np.sum((zs.mean(axis=0) - zt.mean(axis=0)) ** 2))
