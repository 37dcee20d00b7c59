"""--source and --target folders as users spell them: one folder listed twice (its images would be
trained on twice), a folder whose name has a comma (commas separate source folders), and a class
folder with no images (which is not a class, so the domains' classes differ): each refused in one
line that names the folders and says what to do."""
import os

import pytest

from cli_helpers import run_dan
from dan.data import check_compatible, load_domain
from dan.data.image_folder import IMAGE_EXTENSIONS
from image_helpers import write_domain


@pytest.fixture
def source(tmp_path):
    return write_domain(tmp_path / "S", per_class=2)


@pytest.mark.parametrize("spelling", ["same", "trailing slash", "relative", "symlink", "dot segment"])
def test_one_source_folder_twice_is_refused(tmp_path, source, monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    other = {"same": str(source), "trailing slash": f"{source}/", "relative": "S",
             "symlink": str(tmp_path / "link"), "dot segment": f"{tmp_path}/./S"}[spelling]
    (tmp_path / "link").symlink_to(source)
    with pytest.raises(ValueError) as err:
        load_domain(f"folder:{source},folder:{other}", labelled=True)
    msg = str(err.value)
    assert msg == (f"--source lists one folder twice: folder:{source} and folder:{other} are both {source}; "
                   "give each source folder once (its images would count twice)")


def test_two_different_source_folders_still_join(tmp_path, source):
    other = write_domain(tmp_path / "T", per_class=3)
    assert len(load_domain(f"folder:{source},folder:{other}", labelled=True)) == 6 + 9


def test_dan_train_refuses_a_source_folder_twice(tmp_path, source):
    r = run_dan(tmp_path, "train", "--source", f"folder:{source},folder:S/", "--target", f"folder:{source}",
                "--quiet", "--out", tmp_path / "run")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"folder:{source} and folder:S/ are both {source}" in r.stderr


def test_a_comma_in_a_target_folder_name_says_how_to_use_it(tmp_path, source):
    comma = write_domain(tmp_path / "tgt,comma", per_class=2)
    r = run_dan(tmp_path, "train", "--source", f"folder:{source}", "--target", f"folder:{comma}", "--quiet",
                "--out", tmp_path / "run")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"--target folder:{comma}: a target is one domain; commas separate source folders" in r.stderr
    assert "make a symbolic link to it without one" in r.stderr
    # the work-around the message gives works
    os.symlink(comma, tmp_path / "tgt_comma")
    domain = load_domain(f"folder:{tmp_path / 'tgt_comma'}")
    assert len(domain) == 6


def test_a_comma_in_a_source_folder_name_says_how_to_use_it(tmp_path, source):
    comma = write_domain(tmp_path / "src,comma", per_class=2)
    r = run_dan(tmp_path, "train", "--source", f"folder:{comma}", "--target", f"folder:{source}", "--quiet",
                "--out", tmp_path / "run")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "--source: unknown domain 'comma'" in r.stderr and "commas separate source folders" in r.stderr
    with pytest.raises(ValueError, match=f"folder:{comma}: 'comma' is not folder:PATH; commas separate source"):
        load_domain(f"folder:{comma}", labelled=True)  # the library's own entry, without dan train's checks


@pytest.mark.parametrize("role", ["source", "target"])
def test_an_empty_class_folder_is_named(tmp_path, role):
    full = write_domain(tmp_path / "full", classes=("1", "2", "3"), per_class=2)
    part = write_domain(tmp_path / "part", classes=("1", "2"), per_class=2)
    (part / "3").mkdir()
    (part / "3" / "notes.txt").write_text("not an image")
    source, target = (part, full) if role == "source" else (full, part)
    with pytest.raises(ValueError) as err:
        check_compatible(load_domain(f"folder:{source}"), load_domain(f"folder:{target}"))
    assert str(err.value) == (f"The {role} folder:{part}'s class folder {part / '3'} is empty (no images with the "
                              f"extensions {', '.join(IMAGE_EXTENSIONS)}), so the {role} folder:{part} has no class "
                              "'3'; put its images there, or remove the class from both domains")


def test_dan_train_names_an_empty_source_class_folder(tmp_path):
    full = write_domain(tmp_path / "full", classes=("1", "2", "3"), per_class=2)
    part = write_domain(tmp_path / "part", classes=("1", "2"), per_class=2)
    (part / "3").mkdir()
    r = run_dan(tmp_path, "train", "--source", f"folder:{part}", "--target", f"folder:{full}", "--quiet",
                "--out", tmp_path / "run")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"class folder {part / '3'} is empty" in r.stderr and "only in the target" not in r.stderr


def test_an_empty_class_folder_in_one_of_several_sources_is_named(tmp_path):
    full = write_domain(tmp_path / "full", classes=("1", "2", "3"), per_class=2)
    part = write_domain(tmp_path / "part", classes=("1", "2"), per_class=2)
    (part / "3").mkdir()
    with pytest.raises(ValueError, match=f"folder:{part}'s class folder {part / '3'} is empty"):
        load_domain(f"folder:{full},folder:{part}", labelled=True)


def test_dan_predict_names_an_empty_class_folder(tmp_path, model):
    """--images with the checkpoint's classes, one of them an empty folder: named, not "its class
    folders are not the checkpoint's classes"."""
    images = write_domain(tmp_path / "imgs", classes=("cat", "dog"), per_class=2)
    (images / "owl").mkdir()
    r = run_dan(tmp_path, "predict", "--checkpoint", model / "run" / "checkpoint.pt", "--images", images,
                "--out", tmp_path / "p.csv", "--workers", "0", "--quiet")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"--images {images}'s class folder {images / 'owl'} is empty (no images with the extensions" in r.stderr
    assert not (tmp_path / "p.csv").exists()
