"""Tiny labelled image folders and their features, for the tests of dan features and dan classic."""
from pathlib import Path

from image_helpers import write_domain


def tiny_pair(root: Path, per_class=6, shift=40):
    """(source folder, target folder): 3 coloured classes, the target's colours shifted."""
    source = write_domain(root / "source", per_class=per_class, size=(12, 12), seed=0)
    target = write_domain(root / "target", per_class=per_class, size=(12, 12), seed=1, shift=shift)
    return source, target


def tiny_features(root: Path, layer="input", image_size=8, **kw) -> Path:
    """ROOT/features from tiny_pair: by default the raw pixels at 8 x 8 (192 per row, no network)."""
    from dan.commands.features import extract_features

    source, target = tiny_pair(root)
    out = root / "features"
    extract_features(f"folder:{source}", f"folder:{target}", out, backbone=kw.pop("backbone", "efficientnet_lite0"),
                     weights=kw.pop("weights", "none"), layer=layer, image_size=image_size, workers=0, progress=False,
                     **kw)
    return out
