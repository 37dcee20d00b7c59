"""TCA against a dense float64 statement of its objective (tests/classic_helpers.py)."""
import numpy as np
import pytest
from scipy.spatial.distance import pdist

from classic_helpers import check_eigen_equation, mmd2, pencil, two_domains
from dan.classic import TCA


@pytest.mark.parametrize("kernel", ["primal", "linear", "rbf"])
def test_tca_solves_its_generalized_eigen_equation(kernel):
    x, y, sd, _ = two_domains()
    tca = TCA(n_components=3, kernel=kernel, mu=0.5).fit(x, sample_domain=sd)
    a, b = pencil(x, sd, 0.5, kernel)
    check_eigen_equation(tca.components_, tca.eigenvalues_, a, b)


@pytest.mark.parametrize("kernel", ["primal", "linear", "rbf"])
def test_tca_embedding_has_less_mmd_than_raw_features(kernel):
    x, y, sd, _ = two_domains(shift=3.0)
    z = TCA(n_components=3, kernel=kernel).fit_transform(x, sample_domain=sd)
    # scale-free comparison: the mean gap relative to the overall spread
    raw = mmd2(x[sd > 0], x[sd < 0]) / np.trace(np.cov(x, rowvar=False))
    mapped = mmd2(z[sd > 0], z[sd < 0]) / np.trace(np.cov(z, rowvar=False))
    assert mapped < 0.1 * raw


def test_tca_with_a_huge_regulariser_is_pca():
    # B = X^T M X + mu I ~ mu I: the pencil becomes the scatter's eigenproblem (PCA)
    x, y, sd, _ = two_domains(d=6)
    w = TCA(n_components=3, kernel="primal", mu=1e12).fit(x, sample_domain=sd).components_
    _, vecs = np.linalg.eigh(np.cov(x, rowvar=False))
    pca = vecs[:, ::-1][:, :3]
    np.testing.assert_allclose(np.abs(w.T @ pca), np.eye(3), atol=1e-6)


def test_default_rbf_bandwidth_is_the_mean_squared_pair_distance():
    x, y, sd, _ = two_domains()
    tca = TCA(kernel="rbf").fit(x, sample_domain=sd)
    assert tca.bandwidth_ == pytest.approx(np.mean(pdist(x, "sqeuclidean")), rel=1e-12)


def test_transform_of_the_fitted_rows_is_fit_transform():
    x, y, sd, _ = two_domains()
    tca = TCA(n_components=2)
    np.testing.assert_allclose(tca.fit_transform(x, sample_domain=sd), tca.transform(x), rtol=1e-12)


def test_landmarks_as_many_as_rows_is_the_exact_dual():
    x, y, sd, _ = two_domains()
    exact = TCA(n_components=2, n_landmarks=None).fit_transform(x, sample_domain=sd)
    all_rows = TCA(n_components=2, n_landmarks=len(x)).fit_transform(x, sample_domain=sd)
    np.testing.assert_allclose(all_rows, exact)


def test_nystrom_with_enough_landmarks_reproduces_the_linear_primal_subspace():
    # a linear kernel's Nystrom features span the data exactly once the landmarks span R^d, so the
    # embedding spans the same subspace as the primal one up to the regulariser's different metric;
    # with a tiny mu both solve the same unregularised problem
    x, y, sd, _ = two_domains(ns=300, nt=300, d=4)
    z_primal = TCA(n_components=2, kernel="primal", mu=1e-9).fit_transform(x, sample_domain=sd)
    z_nys = TCA(n_components=2, kernel="linear", mu=1e-9, n_landmarks=50).fit_transform(x, sample_domain=sd)
    q1, _ = np.linalg.qr(z_primal - z_primal.mean(0))
    q2, _ = np.linalg.qr(z_nys - z_nys.mean(0))
    np.testing.assert_allclose(np.linalg.svd(q1.T @ q2, compute_uv=False), 1.0, atol=1e-5)


def test_auto_uses_landmarks_above_2048_rows():
    x, y, sd, _ = two_domains(ns=1100, nt=1000, d=8)
    tca = TCA(n_components=4).fit(x, sample_domain=sd)
    assert tca.feature_map_.width <= 1024
    small = TCA(n_components=4).fit(x[:2000], sample_domain=sd[:2000])  # 1100 source, 900 target rows
    assert small.feature_map_.width == 2000
