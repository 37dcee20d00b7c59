"""CORAL (Sun et al., AAAI 2016): re-colour the source with the target's covariance."""
import numbers

import numpy as np

from dan.classic import _validation as V
from dan.classic._base import DomainTransformer
from dan.classic._subspace import psd_power


class CORAL(DomainTransformer):
    """CORrelation ALignment.

    Source rows map to x A with A = (Cs + reg I)^-1/2 (Ct + reg I)^1/2 (Cs, Ct the domains'
    covariances, ddof=1), so that A^T (Cs + reg I) A = Ct + reg I; target rows are unchanged. As in
    the paper the rows are not re-centred.

    ``transform(X, sample_domain)``: rows with sample_domain > 0 are mapped; with sample_domain=None
    every row is a target row and comes back unchanged (new data to predict on is target data).

    reg : float > 0, default 1.0 (the paper's "+ I"): keeps both matrices definite, so constant
        features and fewer rows than features are fine.

    Fitted: ``transform_`` (A, d x d).
    """

    def __init__(self, reg=1.0):
        self.reg = reg

    def fit(self, X, y=None, sample_domain=None):
        """Fit A from the source and target covariances; returns self."""
        reg = self.reg
        if isinstance(reg, bool) or not isinstance(reg, numbers.Real) or not (np.isfinite(reg) and reg > 0):
            raise ValueError(f"reg: expected a finite number > 0, got {self.reg!r}")
        X, source, target = self._fit_input(X, y, sample_domain)
        V.check_square_width(X.shape[1], "X", f"CORAL on {X.shape[1]} features (their covariances)",
                             "reduce the features first (e.g. PCA)")
        eye = self.reg * np.eye(X.shape[1])
        cs = np.atleast_2d(np.cov(X[source], rowvar=False)) + eye
        ct = np.atleast_2d(np.cov(X[target], rowvar=False)) + eye
        self.transform_ = psd_power(cs, -0.5) @ psd_power(ct, 0.5)
        return self

    def transform(self, X, sample_domain=None):
        """Map the source rows (sample_domain > 0) to x A; target rows (all rows when sample_domain is None) come back unchanged."""
        X = self._transform_input(X)
        source = V.transform_source_mask(X.shape[0], sample_domain)
        out = X.copy()
        out[source] = X[source] @ self.transform_
        return out
