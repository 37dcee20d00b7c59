"""Every bad input to the CLI is one line on stderr naming the argument and what is allowed, exit
code 2 (bad input, as argparse) or 1 (the work failed), never a traceback; and nothing questionable
is accepted silently."""
import json

import numpy as np
import pytest
import torch

from cli_helpers import FAST, run_dan
from dan.commands.cli import main as dan_main


def _one_line_error(capsys, rc, expected_rc, *needles):
    err = capsys.readouterr().err.strip()
    assert rc == expected_rc, err
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


TRAIN_PROBES = [
    (["--batch-size", "0"], "--batch-size must be an integer >= 2 and <= 65536, got 0"),
    (["--batch-size", "-2"], "--batch-size must be an integer >= 2 and <= 65536, got -2"),
    (["--batch-size", "31"], "--batch-size must be even"),
    (["--beta-every", "0"], "--beta-every must be an integer >= 1, got 0"),
    (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
    (["--lr", "nan"], "--lr must be a finite number > 0 and <= 3.40282e+37, got nan"),
    (["--lr", "-0.1"], "--lr must be a finite number > 0"),
    (["--momentum", "1"], "--momentum must be a finite number >= 0 and < 1"),
    (["--dropout", "1.5"], "--dropout must be a finite number >= 0 and < 1"),
    (["--lam", "inf"], "--lam must be a finite number >= 0"),
    (["--kernel-mul", "inf"], "--kernel-mul must be a finite number > 0"),
    (["--kernel-mul", "1e-300"], "outside float64's range"),
    (["--device", "bogus"], "--device must be cpu, cuda or cuda:N, got 'bogus'"),
    (["--backbone", "vgg"], "--backbone must be one of digits_cnn, efficientnet_lite0, resnet50, resnet101, alexnet"),
    (["--weights", "w.pt"], "--weights: the digits_cnn backbone is trained from scratch and takes no weights"),
    (["--method", "nope"], "unknown method 'nope'"),
    (["--source", "svhn"], "unknown domain 'svhn'"),
    (["--fixed-betas", "1,0"], "--fixed-betas must be 5 finite non-negative numbers"),
    (["--fixed-betas", "1,0,0,0,nan"], "--fixed-betas must be 5 finite non-negative numbers"),
    (["--fixed-betas", "0,0,0,0,0"], "not all zero"),
    (["--fixed-betas", "1,x,0,0,0"], "--fixed-betas must be 5 comma-separated numbers"),
    (["--method", "dan_sk", "--fixed-betas", "1"], "method dan_sk has one kernel"),
]


@pytest.mark.parametrize("args, needle", TRAIN_PROBES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_train_arguments(tmp_path, capsys, args, needle):
    out = tmp_path / "run"
    rc = dan_main(["train", *FAST, "--out", str(out), "--cache-dir", str(tmp_path / "c"), *args])
    _one_line_error(capsys, rc, 2, needle)
    assert not out.exists(), "a refused run must not create its folder"


def test_cuda_device_without_cuda(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rc = dan_main(["train", "--device", "cuda", "--out", str(tmp_path / "r")])
    _one_line_error(capsys, rc, 2, "--device cuda: this torch", "sees no CUDA device")


def test_bad_boolean_is_refused_not_taken_as_false(capsys):
    with pytest.raises(SystemExit) as exit_:
        dan_main(["train", "--lam-ramp", "flase"])
    assert exit_.value.code == 2
    assert "argument --lam-ramp: expected true or false" in capsys.readouterr().err


def test_folder_domain_with_the_digits_backbone(tmp_path, capsys):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(np.full((20, 20, 3), 30 * k, dtype=np.uint8)).save(tmp_path / "imgs" / cls / f"{k}.png")
    folder = f"folder:{tmp_path / 'imgs'}"
    rc = dan_main(["train", "--source", folder, "--target", folder, "--epochs", "1", "--out", str(tmp_path / "r"),
                   "--quiet"])
    _one_line_error(capsys, rc, 2, "--backbone digits_cnn takes 1 x 8 x 8 digit images", "3 x 224 x 224",
                    "use --backbone efficientnet_lite0, resnet50, resnet101 or alexnet")


def test_diverging_training_fails_instead_of_reporting_success(tmp_path, capsys):
    out = tmp_path / "r"
    rc = dan_main(["train", *FAST, "--lr", "1e4", "--epochs", "2", "--out", str(out),
                   "--cache-dir", str(tmp_path / "c")])
    _one_line_error(capsys, rc, 1, "training diverged at epoch 1", "the loss is nan", "lower --lr")
    assert not (out / "result.json").exists()


@pytest.mark.parametrize("case", ["0-d", "npz", "nan", "inf", "missing", "object"])
def test_dan_test_rejects_bad_arrays(tmp_path, capsys, case):
    rng = np.random.default_rng(0)
    good = tmp_path / "good.npy"
    np.save(good, rng.normal(size=(100, 3)))
    bad = tmp_path / "bad.npy"
    if case == "0-d":
        np.save(bad, np.float64(3.0))
        needle = "holds a 0-d array"
    elif case == "npz":
        bad = tmp_path / "bad.npz"
        np.savez(bad, a=rng.normal(size=(10, 2)))
        needle = "is an .npz archive"
    elif case in ("nan", "inf"):
        arr = rng.normal(size=(100, 3))
        arr[4, 2] = float(case)
        np.save(bad, arr)
        needle = "holds 1 non-finite value(s) (NaN or Inf) of 300"
    elif case == "missing":
        needle = "cannot read"
    else:
        np.save(bad, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
        needle = "allow_pickle=False"  # never unpickled
    rc = dan_main(["test", str(good), str(bad)])
    _one_line_error(capsys, rc, 2, str(bad), needle)


def test_dan_test_json_is_always_valid(tmp_path, capsys):
    """Identical samples give a zero standard error and an infinite z: written as null, not Infinity."""
    arr = np.tile(np.arange(4.0), (200, 1))
    np.save(tmp_path / "a.npy", arr)
    np.save(tmp_path / "b.npy", arr + 1.0)
    assert dan_main(["test", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--no-learn-betas"]) == 0
    out = capsys.readouterr().out
    r = json.loads(out, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))
    assert r["z"] is None and r["p_value"] == 0.0 and r["reject"] is True
    assert r["dof"] == 50  # 200 rows: 100 quad-tuples, 50 pairs of them behind the variance


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(tmp_path):
    """A failure stays one line (here a cache folder under a file, once an unanticipated
    'File exists', now named by the cache's own check), and DAN_DEBUG=1 adds the traceback for a
    bug report."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = ["train", *FAST, "--epochs", "1", "--out", tmp_path / "r", "--cache-dir", blocker / "cache"]
    plain = run_dan(tmp_path, *args)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().count("\n") == 0 and plain.stderr.startswith("dan train: error:")
    debug = run_dan(tmp_path, *args[:-1], blocker / "cache2", "--overwrite", DAN_DEBUG="1")
    assert debug.returncode == 2 and "Traceback" in debug.stderr


@pytest.mark.parametrize("shape, flags, needle", [
    ((0, 5), [], "has 0 row(s) (shape (0, 5)): dan test needs at least 8 rows"),
    ((1, 5), [], "has 1 row(s) (shape (1, 5)): dan test needs at least 8 rows"),
    ((7, 5), [], "has 7 row(s) (shape (7, 5)): dan test needs at least 8 rows"),
    ((0,), [], "has 0 row(s) (shape (0,)): dan test needs at least 8 rows"),
    ((3, 5), ["--no-learn-betas"], "has 3 row(s) (shape (3, 5)): dan test needs at least 4 rows"),
    ((10, 0), [], "has no features (shape (10, 0)): dan test needs at least one feature per row"),
    ((10, 2, 0), ["--no-learn-betas"], "has no features (shape (10, 2, 0))"),
])
def test_dan_test_too_small_sample_names_the_file_and_the_minimum(tmp_path, capsys, shape, flags, needle):
    """A (0, 5) array said 'cannot use dtype float64'; 1 to 7 rows blamed mmd_test's 'x'/'y'."""
    good = tmp_path / "good.npy"
    np.save(good, np.random.default_rng(0).normal(size=(100, 5)))
    bad = tmp_path / "small.npy"
    np.save(bad, np.zeros(shape))
    rc = dan_main(["test", str(good), str(bad), *flags])
    _one_line_error(capsys, rc, 2, f"{bad} {needle}")
    # The minimum is mmd_test's: exactly that many rows run.
    rows = 4 if flags else 8
    np.save(bad, np.random.default_rng(1).normal(size=(rows, 5)))
    assert dan_main(["test", str(good), str(bad), *flags]) == 0


@pytest.mark.parametrize("flags", [[], ["--no-learn-betas"]])
def test_dan_test_overflowing_features_name_the_files(tmp_path, capsys, flags):
    """Features near 1e200 were blamed on 'bandwidths' (or, with --no-learn-betas, tested as
    'not distinguishable, p = 0.5')."""
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    rng = np.random.default_rng(0)
    np.save(a, rng.normal(size=(100, 3)))
    np.save(b, rng.normal(size=(100, 3)) * 1e200)
    rc = dan_main(["test", str(a), str(b), *flags])
    err = _one_line_error(capsys, rc, 2, f"{a} and {b}: squared distances between rows overflow float64 "
                          "(features up to", "rescale the features")
    assert "bandwidths" not in err
