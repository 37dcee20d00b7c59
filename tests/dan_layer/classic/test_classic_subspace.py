"""SA, CORAL and GFK against their closed forms, written out here independently."""
import numpy as np
import scipy.linalg
from scipy.integrate import quad_vec

from classic_helpers import two_domains
from dan.classic import CORAL, GFK, SA


def pca(x, k):
    vals, vecs = np.linalg.eigh(np.cov(x, rowvar=False))
    return vecs[:, ::-1][:, :k]


def test_sa_alignment_matrix_and_maps():
    x, y, sd, _ = two_domains(d=6)
    sa = SA(n_components=3).fit(x, sample_domain=sd)
    ps, pt = pca(x[sd > 0], 3), pca(x[sd < 0], 3)
    # same subspaces as an independent PCA (bases agree up to column signs)
    np.testing.assert_allclose(np.abs(sa.components_source_.T @ ps), np.eye(3), atol=1e-8)
    np.testing.assert_allclose(sa.alignment_, sa.components_source_.T @ sa.components_target_)
    z = sa.transform(x, sample_domain=sd)
    xs, xt = x[sd > 0] - x[sd > 0].mean(0), x[sd < 0] - x[sd < 0].mean(0)
    np.testing.assert_allclose(z[sd > 0], xs @ sa.components_source_ @ sa.alignment_, atol=1e-10)
    np.testing.assert_allclose(z[sd < 0], xt @ sa.components_target_, atol=1e-10)
    # the aligned source basis Ps Ps^T Pt is the projection of Pt onto span(Ps)
    np.testing.assert_allclose(sa.components_source_ @ sa.alignment_, (ps @ ps.T) @ pt @ np.diag(
        np.sign(np.diag(pt.T @ sa.components_target_))), atol=1e-8)


def test_sa_transform_without_sample_domain_maps_every_row_as_target():
    x, y, sd, _ = two_domains()
    sa = SA(n_components=2)
    z_fit = sa.fit_transform(x, sample_domain=sd)
    z_new = sa.transform(x)
    np.testing.assert_allclose(z_new[sd < 0], z_fit[sd < 0])
    np.testing.assert_allclose(z_new, (x - sa.mean_target_) @ sa.components_target_)


def test_coral_source_covariance_plus_identity_becomes_the_targets():
    x, y, sd, _ = two_domains(d=6)
    coral = CORAL().fit(x, sample_domain=sd)
    z = coral.transform(x, sample_domain=sd)
    eye = np.eye(6)
    np.testing.assert_allclose(np.cov(z[sd > 0], rowvar=False) + coral.transform_.T @ coral.transform_,
                               np.cov(x[sd < 0], rowvar=False) + eye, atol=1e-9)
    a = scipy.linalg.fractional_matrix_power(np.cov(x[sd > 0], rowvar=False) + eye, -0.5) @ \
        scipy.linalg.sqrtm(np.cov(x[sd < 0], rowvar=False) + eye)
    np.testing.assert_allclose(coral.transform_, np.real(a), atol=1e-9)
    np.testing.assert_array_equal(z[sd < 0], x[sd < 0])
    np.testing.assert_array_equal(coral.transform(x), x)  # sample_domain=None: all target rows


def test_coral_handles_constant_features_and_fewer_rows_than_features():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 10))
    x[:, 3] = 2.0
    sd = np.array([1, 1, 1, -1, -1, -1])
    z = CORAL().fit_transform(x, sample_domain=sd)
    assert np.all(np.isfinite(z))


def geodesic_by_quadrature(ps, pt):
    """Independent G: principal vectors from scipy's SVD, the geodesic Phi(t) built from them, and
    the integral of Phi(t) Phi(t)^T by adaptive quadrature."""
    u, cos, vt = scipy.linalg.svd(ps.T @ pt)
    theta = np.arccos(np.clip(cos, -1, 1))
    a = ps @ u                         # principal vectors in span(Ps)
    b = pt @ vt.T                      # their partners in span(Pt)
    q = (b - a * cos) / np.sin(theta)  # unit directions from a towards b

    def proj(t):
        phi = a * np.cos(t * theta) + q * np.sin(t * theta)
        return phi @ phi.T
    return quad_vec(proj, 0.0, 1.0, epsabs=1e-12)[0], a, b


def test_gfk_kernel_is_the_integral_over_the_geodesic():
    x, y, sd, _ = two_domains(d=8, shift=0.5)
    gfk = GFK(n_components=3).fit(x, sample_domain=sd)
    ps, pt = pca(x[sd > 0], 3), pca(x[sd < 0], 3)
    g, a, b = geodesic_by_quadrature(ps, pt)
    np.testing.assert_allclose(gfk.kernel_, g, atol=1e-8)


def test_gfk_kernel_is_symmetric_psd_and_the_projection_when_subspaces_agree():
    x, y, sd, _ = two_domains(d=8)
    g = GFK(n_components=3).fit(x, sample_domain=sd).kernel_
    np.testing.assert_array_equal(g, g.T)
    assert np.linalg.eigvalsh(g).min() > -1e-12
    # the same data as both domains: no angle, G is the projection onto the common subspace
    twice = np.vstack([x, x])
    sd2 = np.r_[np.ones(len(x)), -np.ones(len(x))]
    same = GFK(n_components=3).fit(twice, sample_domain=sd2)
    p = pca(x, 3)
    np.testing.assert_allclose(same.kernel_, p @ p.T, atol=1e-10)


def test_gfk_transform_gives_the_kernel_inner_products():
    x, y, sd, _ = two_domains(d=8)
    gfk = GFK(n_components=3).fit(x, sample_domain=sd)
    z = gfk.transform(x)
    np.testing.assert_allclose(z @ z.T, x @ gfk.kernel_ @ x.T, atol=1e-8)


def test_fit_transform_maps_the_source_rows_it_was_given():
    # fit_transform must pass sample_domain on to transform (scikit-learn's default would not)
    x, y, sd, _ = two_domains()
    for est in (SA(n_components=2), CORAL()):
        z = est.fit_transform(x, sample_domain=sd)
        np.testing.assert_array_equal(z, est.transform(x, sample_domain=sd))
        assert not np.allclose(z[sd > 0], est.transform(x[sd > 0]))  # mapped as source, not as target
