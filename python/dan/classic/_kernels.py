"""The feature map Phi that TCA, JDA and BDA project: the data itself ("primal"), the kernel
against the fitted rows ("linear"/"rbf", the n x n dual), or the kernel against m landmark rows
whitened by K_LL^-1/2 (Nystrom), so that large n costs O(n m) memory, never O(n^2).

The rbf kernel is k(x, y) = exp(-|x - y|^2 / bandwidth) with, by default, the bandwidth DAN's kernels
use at their centre: the mean squared distance over the distinct pairs of the fitted rows
(dan_ext.default_bandwidths), computed from the row norms in O(n d).
"""
from typing import Iterator, Optional

import numpy as np

from dan.classic._validation import check_square_width

KERNELS = ("primal", "linear", "rbf")
EXACT_MAX_ROWS = 2048   # n_landmarks="auto": the exact n x n dual up to this many rows ...
AUTO_LANDMARKS = 1024   # ... and this many landmarks above it
BLOCK_ROWS = 1024       # rows of Phi held at once (with two temporaries of the same size)


def mean_pair_sqdist(x: np.ndarray) -> float:
    """Mean of |x_i - x_j|^2 over i != j: (2 n sum|x_i|^2 - 2 |sum x_i|^2) / (n (n - 1))."""
    n = x.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):  # overflow: refused later, when the eigenproblem is not finite
        total = 2.0 * n * np.einsum("ij,ij->", x, x) - 2.0 * np.sum(x.sum(axis=0) ** 2)
        return max(total / (n * (n - 1)), 0.0)


def check_kernel(kernel, n_landmarks, bandwidth) -> None:
    if kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {', '.join(KERNELS)}, got {kernel!r}")
    if not (n_landmarks is None or n_landmarks == "auto"
            or (isinstance(n_landmarks, (int, np.integer)) and not isinstance(n_landmarks, bool) and n_landmarks >= 1)):
        raise ValueError(f"n_landmarks: expected a positive integer, 'auto' or None, got {n_landmarks!r}")
    if bandwidth is not None and not (isinstance(bandwidth, (int, float)) and np.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth: expected a positive number or None, got {bandwidth!r}")


class FeatureMap:
    """Phi for the fitted rows X (float64): see the module docstring. ``width`` is Phi's column count."""

    def __init__(self, kernel: str, x: np.ndarray, bandwidth: Optional[float], n_landmarks, seed) -> None:
        self.kernel = kernel
        n = x.shape[0]
        self.bandwidth = None
        if kernel == "rbf":
            gbar = mean_pair_sqdist(x) if bandwidth is None else float(bandwidth)
            self.bandwidth = gbar if gbar > 0 else 1.0  # all rows equal: any bandwidth gives K = 1
        self.whiten = None
        if kernel == "primal":
            check_square_width(x.shape[1], "X", f"kernel='primal' on {x.shape[1]} features",
                               "reduce the features (e.g. PCA) or use kernel='rbf' with n_landmarks")
            self.basis, self.width = None, x.shape[1]
            return
        m = (None if n <= EXACT_MAX_ROWS else AUTO_LANDMARKS) if n_landmarks == "auto" else n_landmarks
        if m is None or m >= n:
            check_square_width(n, "X", f"the exact kernel={kernel!r} dual of {n} fitted rows",
                               "fit on fewer rows, or give n_landmarks='auto' or a number of landmarks "
                               "(TCA, JDA, BDA)")
            self.basis, self.width = x, n
            return
        check_square_width(m, "n_landmarks", f"{m} landmarks", "give fewer landmarks, or 'auto'")
        rng = np.random.default_rng(seed)
        self.basis = x[np.sort(rng.choice(n, size=m, replace=False))]
        self.whiten = inverse_sqrt_psd(self.kernel_matrix(self.basis, self.basis))
        self.width = self.whiten.shape[1]

    def kernel_matrix(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        g = x @ y.T
        if self.kernel == "linear":
            return g
        d2 = np.einsum("ij,ij->i", x, x)[:, None] + np.einsum("ij,ij->i", y, y)[None, :] - 2.0 * g
        return np.exp(-np.maximum(d2, 0.0) / self.bandwidth)

    def phi(self, x: np.ndarray) -> np.ndarray:
        if self.kernel == "primal":
            return x
        k = self.kernel_matrix(x, self.basis)
        return k if self.whiten is None else k @ self.whiten

    def blocks(self, x: np.ndarray) -> Iterator[tuple]:
        """(row slice, Phi of those rows), BLOCK_ROWS at a time."""
        for start in range(0, x.shape[0], BLOCK_ROWS):
            rows = slice(start, min(start + BLOCK_ROWS, x.shape[0]))
            yield rows, self.phi(x[rows])


def inverse_sqrt_psd(k: np.ndarray) -> np.ndarray:
    """U diag(s^-1/2) over the eigenpairs of K with s above 1e-10 of the largest: Phi Phi^T then equals
    the Nystrom approximation K_xL K_LL^+ K_Lx, with the (numerically) null directions dropped."""
    s, u = np.linalg.eigh((k + k.T) / 2.0)
    keep = s > 1e-10 * max(s[-1], np.finfo(np.float64).tiny)
    return u[:, keep] / np.sqrt(s[keep])
