"""JDA and BDA: their limits (TCA, JDA, conditional-only) and the eigen-equation with class terms."""
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from classic_helpers import check_eigen_equation, mmd2, pencil, two_domains
from dan.classic import BDA, JDA, TCA


@pytest.mark.parametrize("kernel", ["primal", "rbf"])
def test_jda_with_one_iteration_is_tca(kernel):
    x, y, sd, _ = two_domains()
    jda = JDA(n_components=3, kernel=kernel, mu=0.7, n_iter=1).fit(x, y, sample_domain=sd)
    tca = TCA(n_components=3, kernel=kernel, mu=0.7).fit(x, sample_domain=sd)
    np.testing.assert_allclose(jda.components_, tca.components_, atol=1e-10)
    assert jda.pseudo_labels_ is None


@pytest.mark.parametrize("kernel", ["primal", "linear", "rbf"])
def test_jda_solves_the_joint_eigen_equation_with_its_pseudo_labels(kernel):
    x, y, sd, _ = two_domains()
    jda = JDA(n_components=3, kernel=kernel, mu=0.5, n_iter=3).fit(x, y, sample_domain=sd)
    labels = np.where(sd > 0, y, jda.pseudo_labels_)
    assert np.all(jda.pseudo_labels_[sd < 0] >= 0)
    a, b = pencil(x, sd, 0.5, kernel, labels, marginal=1.0, conditional=1.0)
    check_eigen_equation(jda.components_, jda.eigenvalues_, a, b)


def test_bda_with_mu_0_is_tca_at_every_iteration():
    x, y, sd, _ = two_domains()
    bda = BDA(n_components=3, mu=0.0, reg=0.7, n_iter=4).fit(x, y, sample_domain=sd)
    tca = TCA(n_components=3, mu=0.7).fit(x, sample_domain=sd)
    np.testing.assert_allclose(bda.components_, tca.components_, atol=1e-10)


def test_bda_with_mu_half_is_jda():
    x, y, sd, _ = two_domains()
    bda = BDA(n_components=3, mu=0.5, reg=0.7, n_iter=4).fit(x, y, sample_domain=sd)
    jda = JDA(n_components=3, mu=0.7, n_iter=4).fit(x, y, sample_domain=sd)
    np.testing.assert_allclose(bda.components_, jda.components_, atol=1e-8)


def test_bda_with_mu_1_solves_the_conditional_only_eigen_equation():
    x, y, sd, _ = two_domains()
    bda = BDA(n_components=3, kernel="primal", mu=1.0, reg=0.5, n_iter=3).fit(x, y, sample_domain=sd)
    labels = np.where(sd > 0, y, bda.pseudo_labels_)
    a, b = pencil(x, sd, 0.5, "primal", labels, marginal=0.0, conditional=1.0)
    check_eigen_equation(bda.components_, bda.eigenvalues_, a, b)
    assert bda.mu_ == 1.0


def test_bda_auto_mu_is_a_balance_factor_estimated_each_iteration():
    x, y, sd, _ = two_domains(ns=80, nt=80)
    bda = BDA(n_components=3, n_iter=4).fit(x, y, sample_domain=sd)
    assert len(bda.mu_history_) == 3
    assert all(0.0 <= m <= 1.0 for m in bda.mu_history_)
    labels = np.where(sd > 0, y, bda.pseudo_labels_)
    a, b = pencil(x, sd, 1.0, "rbf", labels, marginal=1.0 - bda.mu_, conditional=bda.mu_)
    check_eigen_equation(bda.components_, bda.eigenvalues_, a, b)


def test_any_classifier_is_cloned_not_fitted_in_place():
    x, y, sd, _ = two_domains()
    svc = SVC(kernel="linear")
    jda = JDA(n_components=3, n_iter=2, classifier=svc).fit(x, y, sample_domain=sd)
    assert not hasattr(svc, "support_")
    knn = JDA(n_components=3, n_iter=2, classifier=KNeighborsClassifier(1)).fit(x, y, sample_domain=sd)
    default = JDA(n_components=3, n_iter=2).fit(x, y, sample_domain=sd)
    np.testing.assert_array_equal(knn.pseudo_labels_, default.pseudo_labels_)
    assert jda.pseudo_labels_.shape == y.shape


def test_target_labels_in_y_are_never_read():
    x, y, sd, yt = two_domains()
    leaked = y.copy()
    leaked[sd < 0] = yt
    a = JDA(n_components=3, n_iter=3).fit(x, y, sample_domain=sd)
    b = JDA(n_components=3, n_iter=3).fit(x, leaked, sample_domain=sd)
    np.testing.assert_array_equal(a.components_, b.components_)


@pytest.mark.parametrize("cls", [JDA, BDA], ids=lambda c: c.__name__)
def test_embedding_has_less_marginal_and_class_mmd_than_raw_features(cls):
    x, y, sd, yt = two_domains(shift=3.0)
    z = cls(n_components=3, n_iter=5).fit_transform(x, y, sample_domain=sd)

    def gaps(f):  # mean gaps relative to the spread: marginal, then per true class
        spread = np.trace(np.cov(f, rowvar=False))
        fs, ft = f[sd > 0], f[sd < 0]
        per_class = [mmd2(fs[y[sd > 0] == c], ft[yt == c]) for c in np.unique(yt)]
        return mmd2(fs, ft) / spread, np.mean(per_class) / spread
    (raw_m, raw_c), (emb_m, emb_c) = gaps(x), gaps(z)
    assert emb_m < 0.1 * raw_m and emb_c < 0.5 * raw_c
