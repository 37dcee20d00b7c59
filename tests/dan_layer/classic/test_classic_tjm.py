"""TJM: the reweighted eigen-equation, its first solve is TCA's, and source rows are selected."""
import numpy as np
import pytest

from classic_helpers import check_eigen_equation, pencil, two_domains
from dan.classic import TCA, TJM


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_tjm_solves_its_reweighted_eigen_equation(kernel):
    x, y, sd, _ = two_domains()
    tjm = TJM(n_components=3, kernel=kernel, mu=0.5, n_iter=4).fit(x, sample_domain=sd)
    a, b = pencil(x, sd, 0.0, kernel)
    b = b + 0.5 * np.diag(tjm.row_weights_)
    check_eigen_equation(tjm.components_, tjm.eigenvalues_, a, b)
    np.testing.assert_array_equal(tjm.row_weights_[sd < 0], 1.0)
    # the weights are 1 / (2 |w_i|) of the previous solve on source rows: not all equal any more
    assert np.ptp(tjm.row_weights_[sd > 0]) > 0


def test_tjm_with_one_iteration_is_tca_in_the_dual():
    x, y, sd, _ = two_domains()
    tjm = TJM(n_components=3, mu=0.7, n_iter=1).fit(x, sample_domain=sd)
    tca = TCA(n_components=3, mu=0.7, n_landmarks=None).fit(x, sample_domain=sd)
    np.testing.assert_allclose(tjm.components_, tca.components_, atol=1e-10)


def test_tjm_shrinks_some_source_rows():
    x, y, sd, _ = two_domains(shift=3.0)
    w = TJM(n_components=3, mu=1.0, n_iter=10).fit(x, sample_domain=sd).components_
    norms = np.linalg.norm(w[sd > 0], axis=1)
    first = np.linalg.norm(TJM(n_components=3, mu=1.0, n_iter=1).fit(x, sample_domain=sd).components_[sd > 0], axis=1)
    # L2,1 concentrates the source part on fewer rows: a larger share of its mass in the top tenth
    top = max(1, len(norms) // 10)
    assert np.sort(norms)[-top:].sum() / norms.sum() > np.sort(first)[-top:].sum() / first.sum()


def test_tjm_refuses_the_primal_kernel():
    x, y, sd, _ = two_domains()
    with pytest.raises(ValueError, match="^kernel: TJM"):
        TJM(kernel="primal").fit(x, sample_domain=sd)
