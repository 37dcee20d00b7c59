"""PCA bases and symmetric matrix functions shared by SA, CORAL and GFK (float64, via eigh/SVD)."""
import numpy as np

from dan.classic import _validation as V


def subspace_components(requested, d: int, source, target) -> int:
    """n_components for per-domain PCA: at most min(d, rows - 1 of each domain)."""
    allowed = min(d, int(source.sum()) - 1, int(target.sum()) - 1)
    return V.n_components(requested, allowed, f"at most min(features {d}, rows - 1 of each domain)")


def pca_basis(x: np.ndarray, k: int) -> tuple:
    """(mean, P): X's mean and its K leading principal directions (d x k, orthonormal columns, each
    with its largest entry positive so that refits agree)."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    p = vt[:k].T
    signs = np.sign(p[np.argmax(np.abs(p), axis=0), np.arange(k)])
    return mean, p * np.where(signs == 0, 1.0, signs)


def psd_power(c: np.ndarray, power: float) -> np.ndarray:
    """C^POWER of a symmetric positive definite C."""
    s, u = np.linalg.eigh((c + c.T) / 2.0)
    return (u * s ** power) @ u.T
