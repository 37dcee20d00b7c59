"""The rows dan features writes are the network's own outputs on the same images: a forward pass
written here from the pieces (decode, the fixed transform, the backbone in eval mode) gives them,
row for row in the order of the files recorded beside them; and --checkpoint gives the adapted
network's layer."""
import json

import numpy as np
import torch
from PIL import Image

from dan.commands.features import INIT_SEED, extract_features
from dan.config import TrainConfig
from dan.trainer import train
from dan.data import transforms
from dan.models.networks import build_model
from dan.runs.checkpoint import CHECKPOINT
from feature_helpers import tiny_pair


def _images(root, files, size):
    return torch.stack([transforms.apply(transforms.decode_rgb(Image.open(root / f)), "fixed", size) for f in files])


def test_backbone_rows_equal_a_direct_forward(tmp_path):
    source, target = tiny_pair(tmp_path, per_class=2)
    out = tmp_path / "features"
    extract_features(f"folder:{source}", f"folder:{target}", out, backbone="efficientnet_lite0", weights="imagenet",
                     image_size=32, workers=0, progress=False)
    record = json.loads((out / "target.json").read_text())
    torch.manual_seed(INIT_SEED)
    model = build_model("efficientnet_lite0", 3, "imagenet").eval()
    with torch.no_grad():
        direct = model.backbone(_images(target, record["files"], 32)).numpy()
    np.testing.assert_allclose(np.load(out / "target.npy"), direct, rtol=1e-4, atol=1e-5)
    labels = [record["classes"].index(f.split("/")[0]) for f in record["files"]]
    assert np.load(out / "target_labels.npy").tolist() == labels


def test_checkpoint_rows_are_its_penultimate_layer(tmp_path):
    """A one-step dan train run (random weights, 32 px, 3 classes): its bottleneck's rows."""
    images, _ = tiny_pair(tmp_path, per_class=2)
    train(TrainConfig(source=f"folder:{images}", target=f"folder:{images}", backbone="efficientnet_lite0",
                      weights="none", image_size=32, batch_size=4, iters_per_epoch=1, epochs=1, workers=0,
                      out=str(tmp_path / "run")), progress=False)
    out = tmp_path / "features"
    done = extract_features(f"folder:{images}", f"folder:{images}", out, checkpoint=tmp_path / "run", workers=0,
                            progress=False)
    assert done["source"]["layer"] == "bottleneck"  # the penultimate adapted layer
    ck = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    net = build_model("efficientnet_lite0", 3, None)
    net.load_state_dict(ck["model"])
    net.eval()
    record = json.loads((out / "source.json").read_text())
    x = _images(images, record["files"], 32)
    with torch.no_grad():
        direct = net(x)[1]["bottleneck"].numpy()
    np.testing.assert_allclose(np.load(out / "source.npy"), direct, rtol=1e-4, atol=1e-5)
