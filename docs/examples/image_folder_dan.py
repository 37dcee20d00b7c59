"""DAN on image folders with a pretrained backbone, then the target's predictions as CSV.

The script draws two small domains of its own (circles, squares and triangles: the source in
white on black, the target in colour on grey), in the layout of Office-Home and any ImageFolder
tree (PATH/CLASS/IMAGE), trains DAN with the ImageNet-pretrained EfficientNet-Lite0 (the ``images``
extra) and writes one row per target image with ``dan predict``'s function. With your own data,
the same two commands are:

    dan train --source folder:SRC --target folder:TGT --backbone efficientnet_lite0 --out runs/x
    dan predict --checkpoint runs/x/checkpoint.pt --images TGT --out runs/x/predictions.csv

``--small`` draws 8 images per class and trains 2 steps (CI); without it, 60 per class, 5 epochs.

    python docs/examples/image_folder_dan.py [--small] [--out runs/example_images]
"""
import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dan.commands.predict import predict
from dan.config import TrainConfig
from dan.trainer import train

SHAPES = ("circle", "square", "triangle")


def draw(shape: str, rng, ink, paper, size: int = 48) -> Image.Image:
    img = Image.new("RGB", (size, size), paper)
    d = ImageDraw.Draw(img)
    r = rng.integers(size // 6, size // 3)
    cx, cy = rng.integers(r, size - r, size=2)
    box = [cx - r, cy - r, cx + r, cy + r]
    if shape == "circle":
        d.ellipse(box, fill=ink)
    elif shape == "square":
        d.rectangle(box, fill=ink)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=ink)
    return img


def write_domain(root: Path, per_class: int, target: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        (root / shape).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            ink = tuple(int(v) for v in rng.integers(60, 255, 3)) if target else (255, 255, 255)
            paper = (90, 90, 90) if target else (0, 0, 0)
            draw(shape, rng, ink, paper).save(root / shape / f"{i:03d}.png")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="8 images per class, 2 steps (a smoke test)")
    ap.add_argument("--out", default="runs/example_images", help="folder for the domains and the run")
    args = ap.parse_args(argv)
    out = Path(args.out)
    per_class, size = (8, dict(epochs=1, iters_per_epoch=2, batch_size=8)) if args.small else (60, dict(epochs=5, iters_per_epoch=20))
    write_domain(out / "data" / "source", per_class, target=False, seed=0)
    write_domain(out / "data" / "target", per_class, target=True, seed=1)
    cfg = TrainConfig(source=f"folder:{out / 'data' / 'source'}", target=f"folder:{out / 'data' / 'target'}",
                      backbone="efficientnet_lite0", image_size=32, workers=0, out=str(out / "run"), **size)
    result = train(cfg, overwrite=True, progress=not args.small)
    print(f"DAN source -> target: target accuracy {result['target_accuracy']:.3f}")
    r = predict(out / "run" / "checkpoint.pt", str(out / "data" / "target"), out / "predictions.csv", workers=0,
                overwrite=True, progress=False)
    rows = list(csv.DictReader(open(r["csv"], newline="")))
    print(f"predicted {r['predicted']} images, accuracy {r['accuracy']:.3f}; first row {rows[0]}")
    assert abs(r["accuracy"] - result["target_accuracy"]) < 1e-9  # the same evaluation as dan train's
    return r


if __name__ == "__main__":
    main()
