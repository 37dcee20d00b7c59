"""Bad input to dan.classic: a one-line ValueError naming the argument, or a documented regularisation."""
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from classic_helpers import two_domains
from dan.classic import BDA, CORAL, GFK, JDA, SA, TCA, TJM

ALL = [TCA, JDA, BDA, TJM, SA, CORAL, GFK]


def refuse(call, *names):
    """CALL raises a one-line ValueError whose message names one of NAMES first."""
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    assert any(message.startswith(n) or f" {n}" in message.split(":")[0] for n in names), message
    return message


def small(n_iter=2):
    return lambda cls: cls(n_iter=n_iter) if cls in (JDA, BDA, TJM) else cls()


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_one_row_in_a_domain(cls):
    x, y, sd, _ = two_domains()
    sd = sd.copy()
    sd[sd < 0] = 1
    sd[-1] = -1
    msg = refuse(lambda: small()(cls).fit(x, y, sample_domain=sd), "sample_domain")
    assert "got 1" in msg


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("side", [1, -1], ids=["no_target", "no_source"])
def test_no_rows_on_one_side(cls, side):
    x, y, sd, _ = two_domains()
    refuse(lambda: small()(cls).fit(x, y, sample_domain=np.full(len(x), side)), "sample_domain")


@pytest.mark.parametrize("cls", [JDA, BDA], ids=lambda c: c.__name__)
def test_no_labelled_source_rows(cls):
    x, y, sd, _ = two_domains()
    refuse(lambda: cls(n_iter=2).fit(x, np.full(len(x), -1), sample_domain=sd), "y")
    refuse(lambda: cls(n_iter=2).fit(x, None, sample_domain=sd), "y")


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_sample_domain_of_the_wrong_length_or_with_zeros(cls):
    x, y, sd, _ = two_domains()
    refuse(lambda: small()(cls).fit(x, y, sample_domain=sd[:-1]), "sample_domain")
    zeros = sd.copy()
    zeros[0] = 0
    refuse(lambda: small()(cls).fit(x, y, sample_domain=zeros), "sample_domain")
    fitted = small()(cls).fit(x, y, sample_domain=sd)
    refuse(lambda: fitted.transform(x, sample_domain=sd[:3]), "sample_domain")


@pytest.mark.parametrize("cls, kw, too_many", [
    (TCA, {"kernel": "primal"}, 6), (JDA, {"kernel": "primal"}, 6), (BDA, {"kernel": "primal"}, 6),
    (TCA, {"kernel": "rbf"}, 70), (JDA, {"kernel": "rbf"}, 70), (BDA, {"kernel": "rbf"}, 70), (TJM, {}, 70),
    (SA, {}, 6), (GFK, {}, 6)], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_too_many_components(cls, kw, too_many):
    # primal: at most d = 5; the 70-row dual: at most n - 1 = 69; SA/GFK: at most d
    x, y, sd, _ = two_domains(d=5)
    msg = refuse(lambda: small()(cls).set_params(n_components=too_many, **kw).fit(x, y, sample_domain=sd),
                 "n_components")
    assert "allowed" in msg
    refuse(lambda: small()(cls).set_params(n_components=0).fit(x, y, sample_domain=sd), "n_components")


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_features(cls, bad):
    x, y, sd, _ = two_domains()
    x = x.copy()
    x[3, 2] = bad
    refuse(lambda: small()(cls).fit(x, y, sample_domain=sd), "X", "Input X")
    fitted = small()(cls).fit(two_domains()[0], y, sample_domain=sd)
    refuse(lambda: fitted.transform(x), "X", "Input X")


@pytest.mark.parametrize("cls", [TCA, JDA, BDA, TJM], ids=lambda c: c.__name__)
def test_features_too_large_for_float64(cls):
    x, y, sd, _ = two_domains()
    refuse(lambda: cls(kernel="linear").fit(x * 1e200, y, sample_domain=sd), "X")


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_constant_features_are_fine(cls):
    x, y, sd, _ = two_domains(d=6)
    x = x.copy()
    x[:, 2] = 5.0
    z = small()(cls).fit_transform(x, y, sample_domain=sd)
    assert np.all(np.isfinite(z))
    same = np.full_like(x, 3.0)  # every row equal: nothing to align, still no error
    assert np.all(np.isfinite(small()(cls).set_params(**({"n_components": 1} if cls not in (CORAL,) else {}))
                              .fit_transform(same, y, sample_domain=sd)))


@pytest.mark.parametrize("kernel", ["primal", "linear", "rbf"])
def test_singular_constraint_matrix_is_regularised(kernel):
    # mu = 0: B = Phi^T M0 Phi has rank 1; the documented ridge (dan.classic._eigen.RIDGE) keeps it definite
    x, y, sd, _ = two_domains()
    z = TCA(n_components=3, kernel=kernel, mu=0.0).fit_transform(x, sample_domain=sd)
    assert np.all(np.isfinite(z))


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_feature_width_must_match_between_fit_and_transform(cls):
    x, y, sd, _ = two_domains(d=5)
    fitted = small()(cls).fit(x, y, sample_domain=sd)
    msg = refuse(lambda: fitted.transform(x[:, :4]), "X")
    assert "4 features" in msg and "5 features" in msg


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_transform_before_fit(cls):
    with pytest.raises(NotFittedError):
        cls().transform(np.zeros((3, 2)))


@pytest.mark.parametrize("cls, params, name", [
    (TCA, {"kernel": "poly"}, "kernel"), (TCA, {"mu": -1.0}, "mu"), (TCA, {"n_landmarks": 0}, "n_landmarks"),
    (TCA, {"bandwidth": 0.0}, "bandwidth"), (JDA, {"n_iter": 0}, "n_iter"), (JDA, {"classifier": "knn"}, "classifier"),
    (TJM, {"mu": -1.0}, "mu"), (TJM, {"n_iter": 0}, "n_iter"), (BDA, {"mu": 1.5}, "mu"), (BDA, {"mu": "fast"}, "mu"), (BDA, {"reg": -1}, "reg"), (CORAL, {"reg": 0.0}, "reg"),
], ids=lambda v: str(v) if isinstance(v, str) else None)
def test_bad_parameters(cls, params, name):
    x, y, sd, _ = two_domains()
    refuse(lambda: cls(**params).fit(x, y, sample_domain=sd), name)


def test_jda_refuses_non_integer_labels():
    x, y, sd, _ = two_domains()
    refuse(lambda: JDA(n_iter=2).fit(x, y + 0.5, sample_domain=sd), "y")
