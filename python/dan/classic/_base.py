"""The scikit-learn base of the classical estimators, and the shared part of TCA, JDA and BDA.

How ``sample_domain`` reaches a step inside a Pipeline or GridSearchCV: scikit-learn's metadata
routing. Every estimator here (and SourceOnlyClassifier) requests ``sample_domain`` in ``fit`` and
``transform`` by default, so with routing on no ``set_*_request`` call is needed::

    sklearn.set_config(enable_metadata_routing=True)
    pipe = make_pipeline(TCA(), SourceOnlyClassifier(KNeighborsClassifier(1)))
    pipe.fit(X, y, sample_domain=sd)          # GridSearchCV(...).fit(X, y, sample_domain=sd) alike
    pipe.predict(X_new)                       # new rows are target rows

(``.set_fit_request(sample_domain=False)`` opts a step out). Without routing,
``pipe.fit(X, y, tca__sample_domain=sd)`` reaches TCA's fit. ``fit_transform`` passes
``sample_domain`` on to ``transform``, so SA and CORAL map the source rows of the data they were
fitted on.
"""
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils.validation import check_is_fitted, validate_data

from dan.classic import _validation as V
from dan.classic._kernels import FeatureMap, check_kernel
from dan.classic._mmd import Projection


class DomainTransformer(TransformerMixin, BaseEstimator):
    """fit(X, y=None, sample_domain=None) / transform(X, sample_domain=None) with skada's convention."""

    # requested by default under metadata routing (see the module docstring)
    __metadata_request__fit = {"sample_domain": True}
    __metadata_request__transform = {"sample_domain": True}

    def fit_transform(self, X, y=None, sample_domain=None):
        return self.fit(X, y, sample_domain=sample_domain).transform(X, sample_domain=sample_domain)

    def _fit_input(self, X, y, sample_domain):
        """(X as float64, source mask, target mask), checked."""
        X = one_line(validate_data, self, X, reset=True, dtype=np.float64, ensure_min_samples=2 * V.MIN_ROWS)
        source, target = V.domain_masks(X.shape[0], y, sample_domain, type(self).__name__)
        return X, source, target

    def _transform_input(self, X):
        check_is_fitted(self)
        return one_line(validate_data, self, X, reset=False, dtype=np.float64)


def one_line(check, *args, **kwargs):
    """CHECK(*ARGS, **KWARGS), its ValueError's lines joined into one (scikit-learn's NaN message
    runs over several; its 1-d input message keeps its "Reshape your data" advice)."""
    try:
        return check(*args, **kwargs)
    except ValueError as err:
        raise ValueError(" ".join(line.strip() for line in str(err).splitlines() if line.strip())) from None


class MMDProjection(DomainTransformer):
    """TCA, JDA and BDA: fit builds the feature map and solves (_mmd.py); transform embeds Phi(X) W."""

    def _check_projection_params(self) -> None:
        check_kernel(self.kernel, self.n_landmarks, self.bandwidth)

    def _projection(self, X) -> tuple:
        """(Projection, number of components) for the fitted rows X."""
        self._check_projection_params()
        device = V.check_device(self.device)  # before the feature map, which can take a while
        fmap = FeatureMap(self.kernel, X, self.bandwidth, self.n_landmarks, self.random_state)
        allowed = min(fmap.width, X.shape[0] - 1)
        k = V.n_components(self.n_components, allowed,
                           f"at most min(width of the feature map {fmap.width}, rows - 1 = {X.shape[0] - 1})")
        return Projection(fmap, X, device), k

    def _store(self, proj: Projection, values, components) -> None:
        self.feature_map_ = proj.fmap
        self.bandwidth_ = proj.fmap.bandwidth
        self.eigenvalues_ = values
        self.components_ = components
        self.n_components_ = components.shape[1]

    def transform(self, X, sample_domain=None):
        """The embedding Phi(X) W of any rows (SAMPLE_DOMAIN is accepted for pipelines and unused)."""
        X = self._transform_input(X)
        if sample_domain is not None:
            V.transform_source_mask(X.shape[0], sample_domain)
        out = np.empty((X.shape[0], self.n_components_))
        for rows, phi in self.feature_map_.blocks(X):
            out[rows] = phi @ self.components_
        return out


def check_reg(value, name: str) -> float:
    number = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not (number and np.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


def check_iterations(n_iter, classifier) -> None:
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ValueError(f"n_iter: expected a positive integer, got {n_iter!r}")
    if classifier is not None and not (hasattr(classifier, "fit") and hasattr(classifier, "predict")):
        raise ValueError(f"classifier: expected a scikit-learn classifier (fit and predict), got {classifier!r}")


def base_classifier(classifier):
    """A fresh clone of CLASSIFIER, or the papers' 1-nearest-neighbour classifier when it is None."""
    return KNeighborsClassifier(n_neighbors=1) if classifier is None else clone(classifier)
