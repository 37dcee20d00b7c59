"""Small synthetic image folders in the layouts users have (written as real PNG/JPEG files)."""
from pathlib import Path

import numpy as np


def write_domain(root: Path, classes=("cat", "dog", "owl"), per_class=6, shift=0, size=(40, 48), seed=0,
                 office31=False, ext=".png") -> Path:
    """ROOT/CLASS/IMAGE (or ROOT/images/CLASS/IMAGE with office31): each class a colour, plus noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = root / "images" if office31 else root
    for c, cls in enumerate(classes):
        (base / cls).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            img = np.clip(rng.normal(50 + 60 * c + shift, 25, (*size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(base / cls / f"{k}{ext}")
    return root


def write_unlabelled(root: Path, n=5, size=(30, 36), seed=1) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(root / f"img{k}.jpg")
    return root
