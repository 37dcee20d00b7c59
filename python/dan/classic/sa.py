"""SA (Fernando et al., ICCV 2013): align the source PCA subspace onto the target's, in closed form."""
from dan.classic import _validation as V
from dan.classic._base import DomainTransformer
from dan.classic._subspace import pca_basis, subspace_components


class SA(DomainTransformer):
    """Subspace Alignment.

    Ps, Pt: each domain's n_components leading principal directions (from its own rows, centred on
    its own mean). Source rows map to (x - mean_s) Ps M with the alignment M = Ps^T Pt, target rows
    to (x - mean_t) Pt.

    ``transform(X, sample_domain)`` maps the rows with sample_domain > 0 as source and the others as
    target; with sample_domain=None every row is a target row (new data to predict on is target
    data, skada's convention). ``fit_transform`` passes its sample_domain on.

    n_components : int or None (default: min(30, what the data allows: at most the number of
        features and of rows - 1 in each domain)).

    Fitted: ``components_source_``, ``components_target_`` (d x k), ``mean_source_``, ``mean_target_``,
    ``alignment_`` (k x k), ``n_components_``.
    """

    def __init__(self, n_components=None):
        self.n_components = n_components

    def fit(self, X, y=None, sample_domain=None):
        """Fit each domain's principal directions and the alignment M; returns self."""
        X, source, target = self._fit_input(X, y, sample_domain)
        k = subspace_components(self.n_components, X.shape[1], source, target)
        self.mean_source_, self.components_source_ = pca_basis(X[source], k)
        self.mean_target_, self.components_target_ = pca_basis(X[target], k)
        self.alignment_ = self.components_source_.T @ self.components_target_
        self.n_components_ = k
        return self

    def transform(self, X, sample_domain=None):
        """Map source rows (sample_domain > 0) through Ps M and the others through Pt, each centred on its domain's mean."""
        X = self._transform_input(X)
        source = V.transform_source_mask(X.shape[0], sample_domain)
        out = (X - self.mean_target_) @ self.components_target_
        out[source] = (X[source] - self.mean_source_) @ (self.components_source_ @ self.alignment_)
        return out
