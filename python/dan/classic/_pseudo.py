"""The fit shared by JDA and BDA: TCA's solve, then pseudo-label the target and re-solve with class terms."""
import numpy as np

from dan.classic import _validation as V
from dan.classic._base import MMDProjection, base_classifier, check_iterations, check_reg
from dan.classic._mmd import iterate_pseudo_labels


class PseudoLabelProjection(MMDProjection):
    """Subclasses give _balance (the weights of the marginal and class terms) and _regulariser."""

    def fit(self, X, y=None, sample_domain=None):
        name = type(self).__name__
        if y is None:  # before the domains, which would otherwise be read from y
            V.source_labels(None, None, name)
        X, source, target = self._fit_input(X, y, sample_domain)
        ys = V.source_labels(y, source, name)
        labels = np.full(X.shape[0], -1, dtype=np.int64)
        labels[source] = ys
        reg = check_reg(*self._regulariser())
        check_iterations(self.n_iter, self.classifier)
        balance = self._balance(X, source, target, labels)
        proj, k = self._projection(X)
        out = iterate_pseudo_labels(proj, source, target, labels, reg, k, int(self.n_iter),
                                    base_classifier(self.classifier), balance, name)
        self._store(proj, out["values"], out["components"])
        self.classes_ = np.unique(ys[ys != -1])
        self.pseudo_labels_ = out["pseudo"]
        self._store_balance(out["mus"])
        return self

    def _store_balance(self, mus) -> None:
        """Nothing to keep by default (JDA's weights are fixed)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
