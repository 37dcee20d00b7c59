"""dan.classic as scikit-learn estimators: the library's estimator checks, clone, pickle, Pipeline
(sample_domain through metadata routing) and GridSearchCV."""
import pickle

import numpy as np
import pytest
import scipy.sparse
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from classic_helpers import two_domains
from dan.classic import BDA, CORAL, GFK, JDA, SA, TCA, TJM, SourceOnlyClassifier


def estimators():
    return [TCA(), JDA(n_iter=2), BDA(n_iter=2), TJM(n_iter=2), SA(), CORAL(), GFK()]


# scikit-learn's checks call fit(X, y) with no sample_domain and no -1 label, so these estimators
# see no target domain and refuse ("sample_domain: ... needs at least 2 target rows, got 0"): every
# check that needs a successful fit does not apply to them as they are. The same checks DO run
# below on AlternatingDomains subclasses, which only supply a sample_domain when none is given.
NEEDS_A_TARGET_DOMAIN = [
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object",
    "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_transformer_data_not_an_array", "check_transformer_general",
    "check_transformer_preserve_dtypes", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent",
    "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
]


def expected_without_domains(estimator):
    return {name: "fits without sample_domain: no target rows" for name in NEEDS_A_TARGET_DOMAIN}


@parametrize_with_checks(estimators(), expected_failed_checks=expected_without_domains, xfail_strict=True)
def test_sklearn_checks_without_sample_domain(estimator, check):
    check(estimator)


def alternating_domains(x):
    n = x.shape[0] if scipy.sparse.issparse(x) else np.asarray(x).shape[0]
    return np.where(np.arange(n) % 2 == 0, 1, -1)


class AlternatingDomains:
    """Mixed in before an estimator: fit without sample_domain takes even rows as source, odd as target."""

    def fit(self, X, y=None, sample_domain=None):
        return super().fit(X, y, sample_domain=alternating_domains(X) if sample_domain is None else sample_domain)


class AltTCA(AlternatingDomains, TCA):
    pass


class AltJDA(AlternatingDomains, JDA):
    pass


class AltBDA(AlternatingDomains, BDA):
    pass


class AltTJM(AlternatingDomains, TJM):
    pass


class AltSA(AlternatingDomains, SA):
    pass


class AltCORAL(AlternatingDomains, CORAL):
    pass


class AltGFK(AlternatingDomains, GFK):
    pass


@parametrize_with_checks([AltTCA(), AltJDA(n_iter=2), AltBDA(n_iter=2), AltTJM(n_iter=2), AltSA(), AltCORAL(),
                          AltGFK()],
                         xfail_strict=True)
def test_sklearn_checks_with_two_domains(estimator, check):
    check(estimator)


@pytest.mark.parametrize("est", estimators(), ids=lambda e: type(e).__name__)
def test_fitted_estimator_pickles_and_transforms_the_same(est):
    x, y, sd, _ = two_domains()
    est.fit(x, y, sample_domain=sd)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(x, sample_domain=sd), est.transform(x, sample_domain=sd))


@pytest.mark.parametrize("est", estimators(), ids=lambda e: type(e).__name__)
def test_clone_copies_parameters_not_fitted_state(est):
    x, y, sd, _ = two_domains()
    est.set_params(**{k: v for k, v in {"n_components": 2}.items() if k in est.get_params()})
    est.fit(x, y, sample_domain=sd)
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()
    assert not [k for k in vars(fresh) if k.endswith("_") and not k.startswith("_")]


def test_clone_of_jda_clones_its_classifier():
    jda = JDA(classifier=SVC(C=3.0))
    copy = clone(jda)
    assert copy.classifier is not jda.classifier and copy.classifier.C == 3.0


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def pipeline(adapter):
    """No set_fit_request needed: every dan.classic estimator requests sample_domain by default."""
    return make_pipeline(adapter, SourceOnlyClassifier(KNeighborsClassifier(1)))


@pytest.mark.parametrize("adapter", [TCA(n_components=3), SA(n_components=3), JDA(n_components=3, n_iter=3)],
                         ids=lambda e: type(e).__name__)
def test_pipeline_routes_sample_domain_and_predicts_like_the_steps_by_hand(routing, adapter):
    x, y, sd, yt = two_domains()
    pipe = pipeline(clone(adapter)).fit(x, y, sample_domain=sd)
    by_hand = clone(adapter)
    z = by_hand.fit_transform(x, y, sample_domain=sd)     # SA maps the source rows here
    knn = KNeighborsClassifier(1).fit(z[sd > 0], y[sd > 0])
    expected = knn.predict(by_hand.transform(x[sd < 0]))  # new rows: target rows
    np.testing.assert_array_equal(pipe.predict(x[sd < 0]), expected)


def test_pipeline_without_routing_takes_the_step_parameter():
    x, y, sd, _ = two_domains()
    pipe = make_pipeline(TCA(n_components=3), SourceOnlyClassifier(KNeighborsClassifier(1)))
    pipe.fit(x, y, tca__sample_domain=sd)
    tca = TCA(n_components=3).fit(x, sample_domain=sd)
    np.testing.assert_allclose(pipe.named_steps["tca"].components_, tca.components_)


def test_source_only_classifier_never_trains_on_target_labels(routing):
    x, y, sd, yt = two_domains()
    full = y.copy()
    full[sd < 0] = yt                                   # target labels present in y ...
    clf = SourceOnlyClassifier().fit(x, full, sample_domain=sd)
    assert clf.estimator_.n_samples_fit_ == (sd > 0).sum()  # ... and left out by sample_domain


def test_grid_search_routes_sample_domain_into_every_fold(routing):
    x, y, sd, _ = two_domains(ns=60, nt=60)
    grid = GridSearchCV(pipeline(TCA()), {"tca__n_components": [1, 3]},
                        cv=KFold(3, shuffle=True, random_state=0)).fit(x, y, sample_domain=sd)
    assert grid.best_params_["tca__n_components"] in (1, 3)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    # refit on all rows with the chosen setting: the same TCA as fitting it directly
    tca = TCA(n_components=grid.best_params_["tca__n_components"]).fit(x, sample_domain=sd)
    np.testing.assert_allclose(grid.best_estimator_.named_steps["tca"].components_, tca.components_)


def test_grid_search_without_sample_domain_reaches_no_step(routing):
    x, y, sd, _ = two_domains(ns=60, nt=60)
    grid = GridSearchCV(pipeline(TCA()), {"tca__n_components": [1, 3]}, cv=3, error_score="raise")
    with pytest.raises(ValueError, match="sample_domain"):
        grid.fit(x, np.where(sd > 0, y, 0))  # no -1 labels and no sample_domain: no target rows
