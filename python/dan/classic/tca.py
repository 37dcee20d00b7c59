"""TCA (Pan et al., IEEE TNN 2011): the projection that minimises the marginal MMD between the domains."""
from dan.classic._base import MMDProjection, check_reg
from dan.classic._mmd import mmd_columns


class TCA(MMDProjection):
    r"""Transfer Component Analysis.

    W holds the n_components largest eigenvectors of

    .. math::

        \Phi^T H \Phi w = \lambda (\Phi^T M_0 \Phi / \|M_0\|_F + \mu I) w

    (see dan.classic._mmd and, for why this is solved with eigh rather than eig,
    dan.classic._eigen); ``transform`` returns Phi(X) W for any rows.

    Parameters
    ----------
    n_components : int or None (default): None takes min(30, what the data allows).
    kernel : "rbf" (default), "linear" or "primal" (the d x d problem on the features themselves).
    mu : float >= 0, default 1.0: the regulariser (skada's name; the published scripts' ``lamb``).
    bandwidth : rbf bandwidth, :math:`k(x, y) = \exp(-\|x - y\|^2 / \text{bandwidth})`; None: the mean squared
        distance between the fitted rows (DAN's rule).
    n_landmarks : "auto" (default): the exact n x n kernel up to 2048 fitted rows and a Nystrom
        approximation on 1024 random landmark rows above; an int: that many landmarks; None: exact.
        With landmarks the problem is solved in the Nystrom feature space (the regulariser acts on
        the projection there), in O(n m) memory.
    random_state : int, the landmarks' draw.
    device : None (default), "cpu", "cuda" or "cuda:N": None solves the eigenproblem with scipy; a
        torch device solves it with torch there, in float64 (see dan.classic._eigen). The feature
        map and its statistics are built with numpy either way.

    ``fit(X, y=None, sample_domain=None)``: sample_domain > 0 source rows, < 0 target rows
    (None: the rows with y == -1 are the target). Fitted: components_, eigenvalues_, n_components_,
    bandwidth_ (rbf), feature_map_.
    """

    def __init__(self, n_components=None, kernel="rbf", mu=1.0, bandwidth=None, n_landmarks="auto", random_state=0, device=None):
        self.n_components = n_components
        self.kernel = kernel
        self.mu = mu
        self.bandwidth = bandwidth
        self.n_landmarks = n_landmarks
        self.random_state = random_state
        self.device = device

    def fit(self, X, y=None, sample_domain=None):
        """Solve for W on the source and target rows of X (``sample_domain`` as in the class docstring); returns self."""
        X, source, target = self._fit_input(X, y, sample_domain)
        reg = check_reg(self.mu, "mu")
        proj, k = self._projection(X)
        e, w = mmd_columns(source, target, None, (), 1.0, 0.0)
        values, components = proj.solve(e, w, reg, k, "TCA")
        self._store(proj, values, components)
        return self
