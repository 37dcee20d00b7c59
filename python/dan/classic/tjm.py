"""TJM (Long et al., CVPR 2014): TCA whose regulariser selects source rows (an L2,1 norm)."""
import numpy as np

from dan.classic import _validation as V
from dan.classic._base import MMDProjection, check_iterations, check_reg
from dan.classic._kernels import KERNELS, FeatureMap, check_kernel
from dan.classic._mmd import Projection, mmd_columns

EPS = 1e-12  # floor on a row norm before it is inverted


class TJM(MMDProjection):
    r"""Transfer Joint Matching.

    .. math::

        \min_W \operatorname{tr}(W^T K M_0 K W) / \|M_0\|_F + \mu (\|W_s\|_{2,1} + \|W_t\|_F^2)
        \quad \text{s.t.} \quad W^T K H K W = I,

    W's rows being the fitted rows (the dual: kernel "linear" or "rbf", always the exact n x n kernel, so O(n^3) per
    iteration). The L2,1 norm is handled as the paper does, by iterated reweighting: each solve uses
    the regulariser mu diag(g) with :math:`g_i = 1 / (2 \|w_i\|)` on source rows (from the previous solve;
    1 at first) and 1 on target rows, so source rows that do not help match the domains shrink.

    n_components, kernel ("rbf" default), mu (default 1.0), bandwidth: as TCA's; n_iter (default 10):
    the number of solves; device: as TCA's. Fitted: as TCA's, plus ``row_weights_`` (g of the last solve).
    """

    def __init__(self, n_components=None, kernel="rbf", mu=1.0, n_iter=10, bandwidth=None, device=None):
        self.n_components = n_components
        self.kernel = kernel
        self.mu = mu
        self.n_iter = n_iter
        self.bandwidth = bandwidth
        self.device = device

    def fit(self, X, y=None, sample_domain=None):
        """Solve for W by ``n_iter`` reweighted solves on the source and target rows of X; returns self."""
        X, source, target = self._fit_input(X, y, sample_domain)
        if self.kernel == "primal":
            raise ValueError(f"kernel: TJM selects rows of the dual, so it needs one of "
                             f"{', '.join(k for k in KERNELS if k != 'primal')}, got 'primal'")
        check_kernel(self.kernel, None, self.bandwidth)
        reg = check_reg(self.mu, "mu")
        check_iterations(self.n_iter, None)
        device = V.check_device(self.device)
        proj = Projection(FeatureMap(self.kernel, X, self.bandwidth, None, None), X, device)
        k = V.n_components(self.n_components, X.shape[0] - 1, f"at most rows - 1 = {X.shape[0] - 1}")
        e, w = mmd_columns(source, target, None, (), 1.0, 0.0)
        weights = np.ones(X.shape[0])
        for it in range(int(self.n_iter)):
            values, components = proj.solve(e, w, reg, k, "TJM", weights)
            if it + 1 < self.n_iter:
                weights = np.where(source, 1.0 / (2.0 * np.maximum(np.linalg.norm(components, axis=1), EPS)), 1.0)
        self._store(proj, values, components)
        self.row_weights_ = weights
        return self
