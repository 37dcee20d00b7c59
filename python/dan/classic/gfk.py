"""GFK (Gong et al., CVPR 2012): the geodesic flow kernel between the two domains' PCA subspaces."""
import numpy as np

from dan.classic import _validation as V
from dan.classic._base import DomainTransformer
from dan.classic._subspace import pca_basis, subspace_components

SMALL_ANGLE = 1e-8  # principal angles below this are treated as 0 (their direction of travel is undefined)


def geodesic_kernel(ps: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """G = integral over t in [0, 1] of Phi(t) Phi(t)^T, Phi(t) = Ps U1 cos(t theta) - Q sin(t theta) the
    geodesic from span(Ps) (t = 0) to span(Pt) (t = 1): Ps^T Pt = U1 cos(theta) V^T and
    Q = -(Pt V - Ps U1 cos theta) / sin theta, the unit directions of travel (only d x k: the
    complement of Ps is never formed). Gong et al.'s closed form is 2 G (a scale 1-NN ignores)."""
    u1, cos, vt = np.linalg.svd(ps.T @ pt)
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    a = ps @ u1
    sin = np.sin(theta)
    moving = sin > SMALL_ANGLE
    q = np.zeros_like(a)
    q[:, moving] = -((pt @ vt.T) - a * cos)[:, moving] / sin[moving]
    half_sinc = np.sinc(2.0 * theta / np.pi) / 2.0        # sin(2 theta) / (4 theta), 1/2 at theta = 0
    l1 = 0.5 + half_sinc                                  # integral of cos^2(t theta)
    l3 = 0.5 - half_sinc                                  # integral of sin^2(t theta)
    l2 = -(theta / 2.0) * np.sinc(theta / np.pi) ** 2      # -integral of cos sin = -sin^2 theta / (2 theta)
    g = (a * l1) @ a.T + (a * l2) @ q.T + (q * l2) @ a.T + (q * l3) @ q.T
    return (g + g.T) / 2.0


class GFK(DomainTransformer):
    """Geodesic Flow Kernel.

    G (d x d, symmetric positive semi-definite) from the domains' n_components-dimensional PCA
    subspaces; ``transform`` maps any row x to G^1/2 x, so Euclidean inner products of mapped rows
    are x^T G y and 1-NN on them is the paper's 1-NN under G. Both domains use the same map
    (sample_domain is accepted and unused).

    n_components : int or None (default: min(30, at most the number of features and of rows - 1
        in each domain)).

    Fitted: ``kernel_`` (G), ``sqrt_kernel_`` (G^1/2), ``n_components_``.
    """

    def __init__(self, n_components=None):
        self.n_components = n_components

    def fit(self, X, y=None, sample_domain=None):
        """Fit G from the two domains' PCA subspaces; returns self."""
        X, source, target = self._fit_input(X, y, sample_domain)
        V.check_square_width(X.shape[1], "X", f"GFK on {X.shape[1]} features (its d x d kernel)",
                             "reduce the features first (e.g. PCA)")
        k = subspace_components(self.n_components, X.shape[1], source, target)
        _, ps = pca_basis(X[source], k)
        _, pt = pca_basis(X[target], k)
        self.kernel_ = geodesic_kernel(ps, pt)
        s, u = np.linalg.eigh(self.kernel_)
        self.sqrt_kernel_ = (u * np.sqrt(np.clip(s, 0.0, None))) @ u.T
        self.n_components_ = k
        return self

    def transform(self, X, sample_domain=None):
        """Map every row x to G^1/2 x (sample_domain is accepted and unused)."""
        X = self._transform_input(X)
        V.transform_source_mask(X.shape[0], sample_domain)  # checked, so that a wrong length is not silent
        return X @ self.sqrt_kernel_
