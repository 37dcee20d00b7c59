"""dan classic: one method on a dan features folder, its result.json in a run folder that is never
replaced without --overwrite, and every bad input one line on stderr naming the argument."""
import json
import shutil

import numpy as np
import pytest
from sklearn.preprocessing import normalize

from dan.classic import run_classic
from dan.commands.cli import main as dan_main
from feature_helpers import tiny_features


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    return tiny_features(tmp_path_factory.mktemp("classic"))


def _one_line_error(capsys, rc, *needles):
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_result_json_holds_the_run(features, tmp_path, capsys):
    run = tmp_path / "run"
    rc = dan_main(["classic", "--method", "tca", "--features", str(features), "--out", str(run), "--kernel", "linear",
                   "--n-components", "2", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0 and out.count("\n") == 1 and "tca" in out and "target accuracy" in out, out
    result = json.loads((run / "result.json").read_text())
    assert result["method"] == "tca" and result["classifier"] == "1nn" and result["normalize"] == "l2"
    assert result["params"] == {"n_components": 2, "kernel": "linear", "random_state": 0}
    assert (result["n_source"], result["n_target"], result["n_features"]) == (18, 18, 192)
    assert result["features"]["source"]["layer"] == "input" and result["features"]["target"]["rows"] == 18
    assert result["config"]["seed"] == 0 and result["config"]["features"] == str(features)
    # the same number from the arrays themselves, normalised as --normalize l2 says
    xs, xt = (normalize(np.load(features / f"{r}.npy").astype(np.float64)) for r in ("source", "target"))
    ys, yt = (np.load(features / f"{r}_labels.npy") for r in ("source", "target"))
    direct = run_classic("tca", (xs, ys), (xt, yt), {"kernel": "linear", "n_components": 2, "random_state": 0})
    assert result["target_accuracy"] == direct["target_accuracy"]


def test_an_existing_run_is_refused_until_overwrite(features, tmp_path, capsys):
    run = tmp_path / "run"
    assert dan_main(["classic", "--method", "none", "--features", str(features), "--out", str(run), "--quiet"]) == 0
    before = (run / "result.json").read_text()
    capsys.readouterr()
    rc = dan_main(["classic", "--method", "sa", "--features", str(features), "--out", str(run), "--quiet"])
    _one_line_error(capsys, rc, f"--out {run} already holds a run", "--overwrite")
    assert (run / "result.json").read_text() == before
    assert dan_main(["classic", "--method", "sa", "--features", str(features), "--out", str(run), "--overwrite",
                     "--quiet"]) == 0
    assert json.loads((run / "result.json").read_text())["method"] == "sa"


@pytest.mark.parametrize("args, needles", [
    (["--method", "pca"], ["--method must be one of none, tca, jda, bda, sa, coral, gfk, tjm, got 'pca'"]),
    (["--method", "sa", "--kernel", "rbf"], ["--kernel: sa takes no kernel; it is a setting of tca, jda, bda, tjm"]),
    (["--method", "tca", "--kernel", "cubic"], ["--kernel (for tca): expected one of primal, linear, rbf"]),
    (["--method", "bda", "--mu", "half"], ["--mu must be a number, or auto"]),
    (["--method", "tca", "--classifier", "forest"], ["--classifier must be one of 1nn, logreg, svm"]),
    (["--method", "none", "--normalize", "max"], ["--normalize must be one of l2, none"]),
    (["--method", "none", "--layer", "backbone"], ["--layer: applies only when extracting features"]),
    # how extraction runs: with --features nothing is extracted, so each would be silently ignored
    # settings the chosen kernel has no use for (the estimators would ignore them)
    (["--method", "tca", "--kernel", "linear", "--bandwidth", "2"], ["--bandwidth: --kernel linear has no bandwidth"]),
    (["--method", "jda", "--kernel", "primal", "--bandwidth", "2"], ["--bandwidth: --kernel primal has no bandwidth"]),
    (["--method", "tca", "--kernel", "primal", "--n-landmarks", "3"], ["--n-landmarks: --kernel primal works on"]),
    (["--method", "none", "--device", "cuda"], ["--device: applies only when extracting features"]),
    (["--method", "none", "--workers", "7"], ["--workers: applies only when extracting features"]),
    (["--method", "none", "--cache-dir", "elsewhere"], ["--cache-dir: applies only when extracting features"]),
])
def test_bad_settings_are_one_line(features, tmp_path, capsys, args, needles):
    rc = dan_main(["classic", *args, "--features", str(features), "--out", str(tmp_path / "run"), "--quiet"])
    _one_line_error(capsys, rc, *needles)
    assert not (tmp_path / "run").exists()  # a refused run leaves no folder behind


def test_missing_features_are_named(tmp_path, capsys):
    rc = dan_main(["classic", "--method", "tca", "--features", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])
    _one_line_error(capsys, rc, f"--features {tmp_path / 'nowhere'}: no such folder")
    rc = dan_main(["classic", "--method", "tca", "--out", str(tmp_path / "r")])
    _one_line_error(capsys, rc, "--features: give a folder written by dan features, or --source and --target")


def test_width_mismatch_is_named(features, tmp_path, capsys):
    """The target's files taken from features of another image size (243 values a row, not 192)."""
    mixed = tmp_path / "mixed"
    shutil.copytree(features, mixed)
    other = tiny_features(tmp_path / "other", image_size=9)
    for name in ("target.npy", "target_labels.npy", "target.json"):
        shutil.copy(other / name, mixed / name)
    rc = dan_main(["classic", "--method", "tca", "--features", str(mixed), "--out", str(tmp_path / "r")])
    _one_line_error(capsys, rc, f"--features {mixed}: the source has 192 features per row", "the target 243")


def test_existing_run_error_offers_no_resume(features, tmp_path, capsys):
    """dan classic has no --resume: the refusal must not tell the user to pass one."""
    run = tmp_path / "run"
    assert dan_main(["classic", "--method", "none", "--features", str(features), "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    rc = dan_main(["classic", "--method", "none", "--features", str(features), "--out", str(run), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "already holds a run" in err and "--overwrite" in err, err
    assert "--resume" not in err, err


def test_non_finite_features_are_named(features, tmp_path, capsys):
    """Features written with a NaN row (a diverged checkpoint): one line naming --features, the role
    and the row, not sklearn's bare "Input contains NaN."."""
    from dan.data import feature_cache as cache

    nan = tmp_path / "nan"
    shutil.copytree(features, nan)
    record = json.loads((nan / "target.json").read_text())
    x, y = np.load(nan / "target.npy"), np.load(nan / "target_labels.npy")
    x[2, 0] = np.nan
    info = {k: v for k, v in record.items() if k not in ("written_by", "role", "key", "rows", "width",
                                                           "features_sha256")}
    cache.write(nan, "target", x, y, record["key"], info)
    rc = dan_main(["classic", "--method", "coral", "--features", str(nan), "--out", str(tmp_path / "r"), "--quiet"])
    _one_line_error(capsys, rc, f"--features {nan}: 1 of the 18 rows of target.npy hold NaN", "row 2")
    assert not (tmp_path / "r").exists()


def test_n_landmarks_exact_is_recorded_as_given(features, tmp_path, capsys):
    """--n-landmarks exact is the estimator's None: the config must not record it as left out (None,
    whose default is auto)."""
    for given, recorded in (([], None), (["--n-landmarks", "exact"], "exact"), (["--n-landmarks", "auto"], "auto")):
        run = tmp_path / str(recorded)
        assert dan_main(["classic", "--method", "tca", *given, "--features", str(features), "--out", str(run),
                         "--quiet"]) == 0
        assert json.loads((run / "result.json").read_text())["config"]["n_landmarks"] == recorded


def test_files_of_another_role_are_refused(features, tmp_path, capsys):
    """target.* copied over source.*: read as they were, the target would be its own source (accuracy 1.0)."""
    swapped = tmp_path / "swapped"
    shutil.copytree(features, swapped)
    for suffix in (".npy", "_labels.npy", ".json"):
        shutil.copy(features / f"target{suffix}", swapped / f"source{suffix}")
    rc = dan_main(["classic", "--method", "none", "--features", str(swapped), "--out", str(tmp_path / "r"), "--quiet"])
    _one_line_error(capsys, rc, f"--features {swapped}:", "source.json holds the target features")
