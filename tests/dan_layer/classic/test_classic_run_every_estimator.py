"""run_classic takes every estimator dan.classic exports by its lower-case name: TJM was added to
dan.classic but not to run_classic, so run_classic("tjm", ...) was refused with a list that did
not name it, although dan.classic's docstring offers run_classic for its methods."""
import numpy as np

import dan.classic
from dan.classic import TJM
from dan.classic.run import METHODS, run_classic


def test_every_exported_estimator_has_a_name_in_run_classic():
    estimators = {name.lower() for name in dan.classic.__all__ if name not in ("SourceOnlyClassifier", "run_classic")}
    assert estimators <= set(METHODS), sorted(estimators - set(METHODS))


def test_run_classic_tjm_is_tjm_then_one_nearest_neighbour():
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    xt, yt = rng.normal(size=(20, 4)) + 1, rng.integers(0, 3, 20)
    res = run_classic("tjm", (xs, ys), (xt, yt), params={"n_iter": 2, "n_components": 3})
    x, sd = np.r_[xs, xt], np.r_[np.ones(30), -np.ones(20)]
    z = TJM(n_iter=2, n_components=3).fit_transform(x, np.r_[ys, -np.ones(20, int)], sample_domain=sd)
    nearest = np.argmin(((z[sd < 0][:, None] - z[sd > 0][None]) ** 2).sum(-1), axis=1)
    assert res["method"] == "tjm" and res["predictions"] == ys[nearest].tolist()
    assert res["target_accuracy"] == float(np.mean(ys[nearest] == yt))
