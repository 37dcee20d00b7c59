"""BDA (Wang et al., ICDM 2017): JDA with a balance factor mu between the marginal and class terms."""
import numbers

import numpy as np

from dan.classic._adistance import estimate_mu
from dan.classic._pseudo import PseudoLabelProjection


class BDA(PseudoLabelProjection):
    """Balanced Distribution Adaptation.

    As JDA (dan.classic.JDA), with M = (1 - mu) M0 + mu sum_c Mc once the target has pseudo labels
    (the first solve, before any, uses M0 alone, as JDA's). mu=0 is TCA at every iteration; mu=0.5
    is JDA (M is divided by its Frobenius norm, so a common factor does not matter); mu=1 aligns the
    class-conditional distributions only.

    NOTE: here ``mu`` is the paper's balance factor; the regulariser (TCA's and JDA's ``mu``) is
    ``reg``.

    Parameters
    ----------
    mu : float in [0, 1], or "auto" (default): re-estimated before every solve with pseudo labels
        from proxy A-distances on the input features (dan.classic._adistance).
    reg : float >= 0, default 1.0, the regulariser.
    n_components, kernel, bandwidth, n_landmarks, random_state, n_iter, classifier, device : as JDA's.

    Fitted: as JDA's, plus mu_ (the balance factor of the last solve; None when n_iter == 1) and
    mu_history_ (one per solve after the first).
    """

    def __init__(self, n_components=None, kernel="rbf", mu="auto", reg=1.0, n_iter=10, classifier=None,
                 bandwidth=None, n_landmarks="auto", random_state=0, device=None):
        self.n_components = n_components
        self.kernel = kernel
        self.mu = mu
        self.reg = reg
        self.n_iter = n_iter
        self.classifier = classifier
        self.bandwidth = bandwidth
        self.n_landmarks = n_landmarks
        self.random_state = random_state
        self.device = device

    def _regulariser(self):
        return self.reg, "reg"

    def _balance(self, X, source, target, labels):
        if isinstance(self.mu, str) and self.mu == "auto":
            classes = np.unique(labels[source & (labels != -1)])
            seed = self.random_state

            def auto(all_labels):
                mu = estimate_mu(X, source, target, all_labels, classes, seed)
                return mu, 1.0 - mu, mu
            return auto
        if isinstance(self.mu, bool) or not isinstance(self.mu, numbers.Real) or not 0.0 <= self.mu <= 1.0:
            raise ValueError(f"mu: expected a number in [0, 1] or 'auto', got {self.mu!r}")
        mu = float(self.mu)
        return lambda all_labels: (mu, 1.0 - mu, mu)

    def _store_balance(self, mus) -> None:
        self.mu_history_ = list(mus)
        self.mu_ = mus[-1] if mus else None
