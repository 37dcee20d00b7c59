"""The MMD projection shared by TCA, JDA and BDA, solved from O(width^2) statistics of Phi.

With Phi the feature map's rows (the data, the kernel matrix or Nystrom features; _kernels.py),
H = I - 1 1^T / n and M = sum_c w_c e_c e_c^T (e_0 the marginal column: 1/ns on source rows,
-1/nt on target rows; e_c the class-c column: 1/ns_c on source rows of class c, -1/nt_c on target
rows pseudo-labelled c), the projection W holds the k largest eigenvectors of

    Phi^T H Phi w = lambda (Phi^T M Phi / |M|_F + reg I) w

and the embedding is Phi W. M is divided by its Frobenius norm as in the published scripts, so
``reg`` means what their ``lamb`` means. Phi^T H Phi and Phi^T M Phi are accumulated block by
block; neither Phi nor M (n x n) is ever held whole.
"""
from typing import Optional

import numpy as np
from sklearn.base import clone

from dan.classic._eigen import top_eigenvectors
from dan.classic._kernels import FeatureMap


def mmd_columns(source: np.ndarray, target: np.ndarray, labels: np.ndarray, classes: np.ndarray,
                marginal: float, conditional: float) -> tuple:
    """(E, w): the columns e_c and their weights (see the module docstring). LABELS holds every row's
    class (-1 unknown: source rows without a label, target rows before pseudo-labelling); a class
    missing on either side has no conditional term. Zero weights are left out."""
    cols, weights = [], []
    if marginal > 0:
        cols.append(np.where(source, 1.0 / source.sum(), 0.0) - np.where(target, 1.0 / target.sum(), 0.0))
        weights.append(marginal)
    if conditional > 0:
        for c in classes:
            s, t = source & (labels == c), target & (labels == c)
            if s.any() and t.any():
                cols.append(np.where(s, 1.0 / s.sum(), 0.0) - np.where(t, 1.0 / t.sum(), 0.0))
                weights.append(conditional)
    return np.stack(cols, axis=1), np.asarray(weights)


class Projection:
    """Phi's fixed statistics for the fitted rows X, and the solves against changing M."""

    def __init__(self, fmap: FeatureMap, x: np.ndarray, device=None) -> None:
        self.fmap, self.x, self.device = fmap, x, device  # device: where the eigenproblem is solved (_eigen.py)
        p = fmap.width
        gram, total = np.zeros((p, p)), np.zeros(p)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused, in one line, by the solve
            for _, phi in fmap.blocks(x):
                gram += phi.T @ phi
                total += phi.sum(axis=0)
            gram -= np.outer(total, total) / x.shape[0]
        self.scatter = gram  # Phi^T H Phi

    def solve(self, e: np.ndarray, w: np.ndarray, reg: float, k: int, what: str, weights=None) -> tuple:
        """(eigenvalues, W) for M = E diag(w) E^T; the regulariser is reg I, or reg diag(WEIGHTS)."""
        proj = np.zeros((self.fmap.width, e.shape[1]))
        with np.errstate(over="ignore", invalid="ignore"):
            for rows, phi in self.fmap.blocks(self.x):
                proj += phi.T @ e[rows]
            g = e.T @ e
            frob = np.sqrt(w @ (g * g) @ w)  # |E diag(w) E^T|_F without forming the n x n matrix
            b = (proj * (w / frob)) @ proj.T + reg * (np.eye(self.fmap.width) if weights is None else np.diag(weights))
        return top_eigenvectors(self.scatter, b, k, what, self.device)

    def embed(self, x: np.ndarray, components: np.ndarray) -> np.ndarray:
        out = np.empty((x.shape[0], components.shape[1]))
        for rows, phi in self.fmap.blocks(x):
            out[rows] = phi @ components
        return out


def iterate_pseudo_labels(proj: Projection, source, target, labels, reg: float, k: int, n_iter: int,
                          classifier, balance, what: str) -> dict:
    """JDA/BDA: solve with the marginal term alone, then N_ITER - 1 times label the target with a clone
    of CLASSIFIER trained on the embedded labelled source and re-solve with the class terms.
    BALANCE(pseudo) gives (mu, marginal weight, conditional weight) for the current pseudo labels."""
    classes = np.unique(labels[source & (labels != -1)])
    labelled = source & (labels != -1)
    pseudo: Optional[np.ndarray] = None
    mus = []
    for it in range(n_iter):
        if pseudo is None:
            e, w = mmd_columns(source, target, labels, classes, 1.0, 0.0)
        else:
            all_labels = np.where(target, pseudo, labels)
            mu, marginal, conditional = balance(all_labels)
            mus.append(mu)
            e, w = mmd_columns(source, target, all_labels, classes, marginal, conditional)
            if e.shape[1] == 0:  # mu = 1 and no class on both sides: nothing to align but the marginal
                e, w = mmd_columns(source, target, labels, classes, 1.0, 0.0)
        values, components = proj.solve(e, w, reg, k, what)
        if it + 1 < n_iter:
            z = proj.embed(proj.x, components)
            clf = clone(classifier).fit(z[labelled], labels[labelled])
            pseudo = np.full(labels.shape[0], -1, dtype=labels.dtype)
            pseudo[target] = clf.predict(z[target])
    return {"values": values, "components": components, "pseudo": pseudo, "mus": mus}
