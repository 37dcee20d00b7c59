"""dan features is a cache: the same inputs reuse the files (and say so), a changed image file, layer
or weights recomputes them, and files of the user's are never replaced."""
import json

import numpy as np
import pytest
from PIL import Image

from dan.commands.features import extract_features
from feature_helpers import tiny_pair


def _extract(source, target, out, **kw):
    # the packaged ImageNet weights (offline): random ones give rows of about 1e-9, all alike
    args = dict(backbone="efficientnet_lite0", weights="imagenet", image_size=32, workers=0, progress=False)
    args.update(kw)
    return extract_features(f"folder:{source}", f"folder:{target}", out, **args)


def test_rerun_reuses_and_a_changed_image_recomputes(tmp_path):
    source, target = tiny_pair(tmp_path, per_class=3)
    out = tmp_path / "features"
    first = _extract(source, target, out)
    assert not first["source"]["reused"] and not first["target"]["reused"]
    before = np.load(out / "target.npy")
    again = _extract(source, target, out)
    assert again["source"]["reused"] and again["target"]["reused"], again
    assert again["target"]["why"] == "the same inputs"

    # the same file name, other pixels: the paths and labels (the domain's fingerprint) are unchanged
    record = json.loads((out / "target.json").read_text())
    changed = target / record["files"][0]
    Image.fromarray(np.full((12, 12, 3), 250, dtype=np.uint8)).save(changed)
    third = _extract(source, target, out)
    assert third["source"]["reused"]
    assert not third["target"]["reused"] and third["target"]["why"] == "image files were changed in place"
    after = np.load(out / "target.npy")
    assert not np.allclose(after[0], before[0], rtol=1e-3, atol=0)  # the changed image's row was recomputed
    np.testing.assert_allclose(after[1:], before[1:], rtol=1e-5, atol=0)


def test_another_layer_recomputes(tmp_path):
    source, target = tiny_pair(tmp_path, per_class=2)
    out = tmp_path / "features"
    _extract(source, target, out, layer="input", image_size=8)
    other = _extract(source, target, out, layer="backbone", image_size=32)
    assert not other["source"]["reused"] and "layer" in other["source"]["why"]
    assert other["source"]["width"] == 1280 and json.loads((out / "source.json").read_text())["layer"] == "backbone"


def test_files_of_the_user_are_kept(tmp_path):
    source, target = tiny_pair(tmp_path, per_class=2)
    out = tmp_path / "features"
    out.mkdir()
    np.save(out / "source.npy", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not dan features' files and are kept"):
        _extract(source, target, out, layer="input", image_size=8)
    assert np.load(out / "source.npy").shape == (2, 2)


def test_image_size_on_digit_arrays_is_refused(tmp_path):
    """The 8 x 8 digit domains are never resized: --image-size 16 gave 64 values a row while
    source.json (and dan classic's result.json) claimed image size 16."""
    from dan.commands.features import extract_features

    with pytest.raises(ValueError, match=r"^--image-size 16: applies to folder: domains only"):
        extract_features("printed", "digits", tmp_path / "f", backbone="digits_cnn", layer="input", image_size=16,
                         workers=0, progress=False)
    assert not (tmp_path / "f").exists()
