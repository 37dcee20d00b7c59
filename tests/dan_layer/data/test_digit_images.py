"""``dan digit-folders``: digit domains written as image folders that the folder: path reads."""
import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_helpers import run_dan, start_dan, wait_for
from dan.commands.cli import main as dan_main
from dan.data.digit_images import mnist_frame
from dan.data.image_folder import discover


def test_mnist_frame_fits_20_box_and_centres_the_mass():
    img = np.zeros((96, 96), dtype=np.float64)
    img[10:70, 60:80] = 255  # a tall bar far off-centre
    f = mnist_frame(img)
    rows, cols = np.flatnonzero(f.max(axis=1) > 127), np.flatnonzero(f.max(axis=0) > 127)
    assert f.shape == (28, 28) and f.dtype == np.uint8
    assert rows[-1] - rows[0] + 1 == 20 and 6 <= cols[-1] - cols[0] + 1 <= 8  # aspect kept: 60 x 20 -> 20 x 7
    w = f.astype(float)
    cy, cx = (np.arange(28) @ w.sum(1)) / w.sum(), (np.arange(28) @ w.sum(0)) / w.sum()
    assert abs(cy - 13.5) <= 0.6 and abs(cx - 13.5) <= 0.6
    assert not mnist_frame(np.zeros((40, 40))).any()  # a blank image stays blank


@pytest.mark.parametrize("domain, count", [("printed", 2000), ("digits", 1797)])
def test_written_folder_is_an_image_folder_domain(tmp_path, capsys, domain, count):
    out = tmp_path / domain
    assert dan_main(["digit-folders", "--domain", domain, "--size", "24", "--out", str(out), "--quiet"]) == 0
    assert f"folder:{out}" in capsys.readouterr().out
    images = discover(out)
    assert images.classes == [str(d) for d in range(10)] and len(images) == count
    assert np.bincount(images.labels, minlength=10).min() >= 170
    with Image.open(images.paths[0]) as im:
        assert im.mode == "RGB" and im.size == (24, 24)
        a = np.asarray(im)
    assert np.array_equal(a[..., 0], a[..., 2]) and a.max() > 200 and a[0].max() < 60  # white ink on black
    assert sorted(p.name for p in tmp_path.iterdir()) == [domain]  # nothing left beside it


def test_existing_folder_kept_without_overwrite(tmp_path, capsys):
    out = tmp_path / "printed"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert dan_main(["digit-folders", "--domain", "printed", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and err.count("\n") == 1 and (out / "mine.txt").read_text() == "keep me"


def test_overwrite_replaces_only_a_folder_this_command_wrote(tmp_path, capsys):
    """--overwrite on a folder of the user's (a thesis in it) or on a file is refused in one line and
    both are kept as they were; a folder dan digit-folders wrote (its marker) is replaced."""
    thesis = tmp_path / "work" / "thesis.txt"
    thesis.parent.mkdir()
    thesis.write_text("three years")
    afile = tmp_path / "afile.txt"
    afile.write_text("mine")
    for out, what in ((thesis.parent, "is a folder that dan digit-folders did not write (it has no "
                                      ".dan-digit-folder marker)"),
                      (afile, "is a file, not a folder that dan digit-folders wrote")):
        assert dan_main(["digit-folders", "--domain", "digits", "--size", "8", "--out", str(out), "--quiet",
                         "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert f"--out {out} {what}" in err and "it is kept" in err and err.count("\n") == 1, err
    assert thesis.read_text() == "three years" and afile.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt", "work"]  # no .afile.txt.oldPID
    out = tmp_path / "digits"
    assert dan_main(["digit-folders", "--domain", "digits", "--size", "8", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / ".dan-digit-folder").read_text()) == {
        "written_by": "dan digit-folders", "domain": "digits", "size": 8, "images": 1797}
    assert dan_main(["digit-folders", "--domain", "digits", "--size", "12", "--out", str(out), "--quiet",
                     "--overwrite"]) == 0
    images = discover(out)
    assert len(images) == 1797 and json.loads((out / ".dan-digit-folder").read_text())["size"] == 12
    with Image.open(images.paths[0]) as im:
        assert im.size == (12, 12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt", "digits", "work"]


@pytest.mark.parametrize("out", [".", ".."])
def test_out_the_current_folder_is_refused_in_one_line(tmp_path, out):
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "thesis.txt").write_text("three years")
    r = run_dan(tmp_path / "cwd", "digit-folders", "--domain", "digits", "--out", out, "--overwrite", "--quiet")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"--out {out} is the current folder or holds it" in r.stderr
    assert (tmp_path / "cwd" / "thesis.txt").read_text() == "three years"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cwd", "thesis.txt"]


def test_bad_size_is_one_line(tmp_path):
    r = run_dan(tmp_path, "digit-folders", "--domain", "printed", "--out", tmp_path / "x", "--size", "4")
    assert r.returncode == 2 and r.stderr.strip().endswith("--size must be an integer from 8 to 1024, got 4")
    assert not (tmp_path / "x").exists()


def test_killed_while_writing_leaves_no_folder(tmp_path):
    """A real SIGKILL while the PNGs are written: OUT does not exist (it appears only when complete)."""
    out = tmp_path / "printed"
    proc = start_dan(tmp_path, "digit-folders", "--domain", "printed", "--out", out, "--size", "64", "--quiet")
    partial = lambda: [p for p in tmp_path.glob(".printed.partial*") if len(list(p.rglob("*.png"))) > 50]
    wait_for(lambda: partial(), timeout=120, proc=proc, what="half-written images")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    assert partial()  # the killed writer's leftover, hidden beside OUT
    r = run_dan(tmp_path, "digit-folders", "--domain", "printed", "--out", out, "--size", "16", "--quiet")
    assert r.returncode == 0, r.stderr
    assert len(discover(out)) == 2000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["printed"]  # the next run cleared the leftover


def test_ablation_runs_through_the_folder_path(tmp_path, capsys):
    """The documented image-level ablation, small: digit folders -> dan ablate on folder: domains
    with efficientnet_lite0 (random weights, 12 images per digit and 2 steps here, so that it
    takes seconds; the real run is in RESULTS.md)."""
    for domain in ("digits", "printed"):
        assert dan_main(["digit-folders", "--domain", domain, "--size", "32", "--out", str(tmp_path / domain),
                         "--quiet"]) == 0
        for d in range(10):  # a small copy of the written folder keeps the evaluation short
            (tmp_path / f"{domain}_small" / str(d)).mkdir(parents=True)
            for f in sorted((tmp_path / domain / str(d)).iterdir())[:12]:
                shutil.copy(f, tmp_path / f"{domain}_small" / str(d) / f.name)
    out = tmp_path / "ablate"
    assert dan_main(["ablate", "--source", f"folder:{tmp_path / 'printed_small'}",
                     "--target", f"folder:{tmp_path / 'digits_small'}", "--backbone", "efficientnet_lite0",
                     "--weights", "none", "--image-size", "32", "--epochs", "1", "--iters-per-epoch", "2",
                     "--batch-size", "8", "--beta-every", "1", "--workers", "0", "--seeds", "1",
                     "--methods", "source_only,dan", "--out", str(out), "--quiet"]) == 0
    table = (out / "results.md").read_text()
    assert "| source_only |" in table and "| dan |" in table and "backbone efficientnet_lite0" in table
    row = json.loads((out / "dan" / "seed0" / "log.json").read_text())[-1]
    assert [t[0] for t in row["beta_trace_bottleneck"]] == [1, 2] and 0 <= row["target_accuracy"] <= 1
    # dan plot on an image run: the ablation's source-only run is "before", bottleneck features
    assert dan_main(["plot", "--checkpoint", str(out / "dan" / "seed0" / "checkpoint.pt"), "--quiet"]) == 0
    summary = json.loads((out / "dan" / "seed0" / "tsne.json").read_text())
    assert summary["layer"] == "bottleneck" and Path(summary["before"]) == out / "source_only" / "seed0" / "checkpoint.pt"
    assert (out / "dan" / "seed0" / "tsne.png").stat().st_size > 10_000 and -2 <= summary["pad_after"] <= 2
