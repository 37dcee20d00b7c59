"""run_classic: one call from features to a target-accuracy result dict."""
import json

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from classic_helpers import two_domains
from dan.classic import JDA
from dan.classic.run import METHODS, run_classic


def split():
    x, y, sd, yt = two_domains()
    return (x[sd > 0], y[sd > 0]), (x[sd < 0], yt), x, y, sd


def test_none_is_source_only_one_nn():
    source, target, *_ = split()
    res = run_classic("none", source, target)
    expected = KNeighborsClassifier(1).fit(*source).predict(target[0])
    assert res["predictions"] == expected.tolist()
    assert res["target_accuracy"] == pytest.approx(np.mean(expected == target[1]))
    json.dumps(res)  # the result dict is JSON as it stands


def test_jda_with_params_matches_the_estimator_by_hand():
    source, target, x, y, sd = split()
    res = run_classic("jda", source, target, params={"kernel": "primal", "n_components": 3})
    z = JDA(kernel="primal", n_components=3).fit_transform(x, y, sample_domain=sd)
    expected = KNeighborsClassifier(1).fit(z[sd > 0], y[sd > 0]).predict(z[sd < 0])
    assert res["predictions"] == expected.tolist()
    assert (res["n_source"], res["n_target"], res["n_features"]) == (40, 30, 5)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_without_target_labels(method):
    source, target, *_ = split()
    res = run_classic(method, source, (target[0], None), classifier=SVC())
    assert res["target_accuracy"] is None and len(res["predictions"]) == 30


def test_bad_calls_are_refused_in_one_line():
    source, target, *_ = split()
    for call, name in [(lambda: run_classic("pca", source, target), "method"),
                       (lambda: run_classic("tca", source, (target[0][:, :3], None)), "target"),
                       (lambda: run_classic("tca", (source[0], None), target), "source"),
                       (lambda: run_classic("tca", source, target, params={"lamb": 1}), "params"),
                       (lambda: run_classic("none", source, target, params={"mu": 1}), "params")]:
        with pytest.raises(ValueError, match=f"^{name}:"):
            call()
