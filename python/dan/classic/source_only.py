"""SourceOnlyClassifier: the classifier step of a domain-adaptation Pipeline, trained on source rows only."""
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils.validation import check_is_fitted

from dan.classic import _validation as V


class SourceOnlyClassifier(ClassifierMixin, BaseEstimator):
    """Fits a clone of ``estimator`` on the labelled source rows: those with sample_domain > 0 when
    sample_domain reaches it (requested by default under metadata routing), else those
    with y != -1. Target labels, even when present in y, are never used for training.

    ``score(X, y)`` is the accuracy over the rows with y != -1: in a GridSearchCV whose y carries -1
    on target rows this is source validation accuracy, which says nothing certain about the target.
    """

    __metadata_request__fit = {"sample_domain": True}

    def __init__(self, estimator=None):  # None: 1-nearest neighbour
        self.estimator = estimator

    def fit(self, X, y, sample_domain=None):
        """Fit a clone of ``estimator`` on the labelled source rows of X; returns self."""
        y = np.asarray(y)
        if sample_domain is None:
            keep = y != -1
        else:
            keep = V.transform_source_mask(y.shape[0], sample_domain) & (y != -1)
        if not keep.any():
            raise ValueError("y: SourceOnlyClassifier needs labelled source rows (sample_domain > 0, y != -1)")
        base = KNeighborsClassifier(n_neighbors=1) if self.estimator is None else clone(self.estimator)
        self.estimator_ = base.fit(np.asarray(X)[keep], y[keep])
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        """The fitted classifier's predictions for every row of X."""
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def score(self, X, y, sample_weight=None):
        """Accuracy on the rows of X whose label is not -1 (``sample_weight`` is accepted and not used)."""
        y = np.asarray(y)
        known = y != -1
        return float(np.mean(self.predict(np.asarray(X)[known]) == y[known]))
