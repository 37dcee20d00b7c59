"""Two source folders that are different folders but hold the same image files: class folders
linked from one into the other, or images hard-linked (cp -al). Each shared image would be
trained on twice, as with one folder listed twice, so it is refused in one line naming both
sources and the file; folders that only hold copies of the same pixels are different files and join."""
import os
import shutil

import pytest

from cli_helpers import run_dan
from dan.data import load_domain
from image_helpers import write_domain


@pytest.fixture
def source(tmp_path):
    return write_domain(tmp_path / "S", per_class=2)


def _linked_classes(tmp_path, source):
    other = tmp_path / "S2"
    other.mkdir()
    for cls in ("cat", "dog", "owl"):
        (other / cls).symlink_to(source / cls)
    return other


def _hard_linked(tmp_path, source):
    other = tmp_path / "S3"
    shutil.copytree(source, other, copy_function=os.link)
    return other


@pytest.mark.parametrize("make", [_linked_classes, _hard_linked], ids=["symlinked class folders", "hard links"])
def test_sources_sharing_image_files_are_refused(tmp_path, source, make):
    other = make(tmp_path, source)
    with pytest.raises(ValueError) as err:
        load_domain(f"folder:{source},folder:{other}", labelled=True)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"--source folder:{source} and folder:{other} share the image file {source}/cat/0.png"), msg
    assert "its images would count twice" in msg


def test_dan_train_refuses_sources_sharing_image_files(tmp_path, source):
    other = _hard_linked(tmp_path, source)
    r = run_dan(tmp_path, "train", "--source", f"folder:{source},folder:{other}", "--target", f"folder:{source}",
                "--quiet", "--out", tmp_path / "run")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"folder:{source} and folder:{other} share the image file" in r.stderr


def test_copied_images_are_different_files_and_join(tmp_path, source):
    shutil.copytree(source, tmp_path / "copy")
    assert len(load_domain(f"folder:{source},folder:{tmp_path / 'copy'}", labelled=True)) == 12
