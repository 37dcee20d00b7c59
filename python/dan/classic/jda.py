"""JDA (Long et al., ICCV 2013): TCA plus class-conditional MMD terms from iterated pseudo labels."""
from dan.classic._pseudo import PseudoLabelProjection


class JDA(PseudoLabelProjection):
    """Joint Distribution Adaptation.

    The first solve is TCA's (no target labels yet); then ``n_iter - 1`` times: a clone of
    ``classifier`` (default the papers' 1-NN) trained on the embedded labelled source rows labels the
    target, and the projection is re-solved with M = M0 + sum_c Mc (dan.classic._mmd; a class absent
    from the source labels or the pseudo labels has no term). JDA with n_iter=1 is TCA. Target labels
    in y are never read: only rows with sample_domain > 0 and y != -1 count as labelled. y must hold
    integer classes.

    Parameters: as TCA's (n_components, kernel, mu = the regulariser, bandwidth, n_landmarks, device,
    random_state), plus

    n_iter : int, default 10, the number of solves.
    classifier : a scikit-learn classifier, cloned; default None, 1-nearest neighbour.

    Fitted: as TCA's, plus ``classes_`` and ``pseudo_labels_`` (the target labels the last solve used, -1 on
    source rows; None when n_iter == 1).
    """

    def __init__(self, n_components=None, kernel="rbf", mu=1.0, n_iter=10, classifier=None, bandwidth=None,
                 n_landmarks="auto", random_state=0, device=None):
        self.n_components = n_components
        self.kernel = kernel
        self.mu = mu
        self.n_iter = n_iter
        self.classifier = classifier
        self.bandwidth = bandwidth
        self.n_landmarks = n_landmarks
        self.random_state = random_state
        self.device = device

    def _regulariser(self):
        return self.mu, "mu"

    def _balance(self, X, source, target, labels):
        """JDA weighs the marginal and the class terms equally."""
        return lambda pseudo: (None, 1.0, 1.0)
