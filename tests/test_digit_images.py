"""``dan digit-folders``: digit domains written as image folders that the folder: path reads."""
import signal

import numpy as np
import pytest
from PIL import Image

from cli_helpers import run_dan, start_dan, wait_for
from dan.cli import main as dan_main
from dan.digit_images import mnist_frame
from dan.image_folder import discover


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
    assert dan_main(["digit-folders", "--domain", "printed", "--out", str(out), "--size", "16", "--quiet",
                     "--overwrite"]) == 0
    assert not (out / "mine.txt").exists() and len(discover(out)) == 2000


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
