"""DAN networks: a backbone, then an adapted fully connected head whose named hidden layers
(fc6, fc7 and the logits fc8, as in the paper's AlexNet) are penalised with MK-MMD.

Backbones:
    digits_cnn      a small CNN for the 8x8 digit domains, trained from scratch (CPU-friendly)
    resnet50        torchvision ResNet-50 (2048-d pooled features)
    alexnet         torchvision AlexNet up to fc7, as in the paper (conv1-conv3 frozen)
torchvision backbones load ImageNet weights only from a local file (``weights=PATH``); nothing is
downloaded. New layers get a 10x learning rate (paper convention), see param_groups().
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
from torch import nn

from .extras import MissingExtra

ADAPTED_LAYERS = ("fc6", "fc7", "fc8")


class DigitsCNN(nn.Module):
    """Two 3x3 convolutions and a pooling for 1x8x8 inputs: 32 x 4 x 4 = 512 features."""

    out_features = 512

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2), nn.Flatten(),
        )

    def forward(self, x):
        return self.body(x)


def _torchvision():
    try:
        import torchvision  # noqa: F401
    except Exception as err:  # not installed, or built for another torch
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MissingExtra(
            "the resnet50/alexnet backbones need torchvision built for this torch: pip install "
            f"\"dan_ext[torchvision]\" (e.g. torch==2.14.1 with torchvision==0.29.1); import failed: {first}"
        ) from None
    return torchvision


# Smallest input each backbone takes: (channels, minimum height and width).
_INPUTS = {"digits_cnn": (1, 8), "resnet50": (3, 32), "alexnet": (3, 63)}


def check_input_shape(backbone: str, domain) -> None:
    """One-line error when a domain's images cannot go through the backbone (e.g. a folder: domain,
    3 x 224 x 224, into the 1 x 8 x 8 digits_cnn), before any model is built."""
    shape = tuple(domain.x.shape[1:])
    channels, size = _INPUTS[backbone]
    if backbone == "digits_cnn":
        ok = shape == (1, 8, 8)
        need = "1 x 8 x 8 digit images (the digits, mnist and printed domains)"
        hint = "; for image folders use --backbone resnet50 or alexnet"
    else:
        ok = len(shape) == 3 and shape[0] == channels and min(shape[1:]) >= size
        need = f"{channels}-channel images of at least {size} x {size} pixels"
        hint = "; for the 8x8 digit domains use --backbone digits_cnn"
    if not ok:
        raise ValueError(f"--backbone {backbone} takes {need}, but {domain.name} gives "
                         f"{' x '.join(map(str, shape))}{hint}")


def _load_local_weights(model: nn.Module, weights: Optional[str]) -> None:
    if weights is None:
        return
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot read backbone weights {weights}: {err}") from err
    missing, unexpected = model.load_state_dict(state, strict=False)
    if len(missing) > len(state) // 2:
        raise ValueError(f"backbone weights {weights} do not match the network ({len(missing)} missing keys)")


class TorchvisionBackbone(nn.Module):
    def __init__(self, name: str, weights: Optional[str]):
        super().__init__()
        tv = _torchvision()
        if name == "resnet50":
            net = tv.models.resnet50(weights=None)
            _load_local_weights(net, weights)
            net.fc = nn.Identity()
            self.out_features = 2048
            frozen = [net.conv1, net.bn1, net.layer1]
        elif name == "alexnet":
            net = tv.models.alexnet(weights=None)
            _load_local_weights(net, weights)
            net.classifier = nn.Sequential(*list(net.classifier.children())[:-1])  # up to fc7 (4096)
            self.out_features = 4096
            frozen = [net.features[:8]]  # conv1-conv3, as in the paper
        else:
            raise ValueError(f"unknown backbone {name!r}")
        for module in frozen:
            for p in module.parameters():
                p.requires_grad_(False)
        self.net = net

    def forward(self, x):
        return self.net(x)


class DANNet(nn.Module):
    """backbone -> fc6 -> fc7 -> fc8 (logits). forward returns the logits and a dict of the
    adapted layers' activations (fc6, fc7 after ReLU; fc8 the logits)."""

    def __init__(self, backbone: nn.Module, num_classes: int, widths=(256, 128), dropout: float = 0.25):
        super().__init__()
        self.backbone = backbone
        self.fc6 = nn.Sequential(nn.Linear(backbone.out_features, widths[0]), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.fc7 = nn.Sequential(nn.Linear(widths[0], widths[1]), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.fc8 = nn.Linear(widths[1], num_classes)

    def forward(self, x):
        h6 = self.fc6(self.backbone(x))
        h7 = self.fc7(h6)
        logits = self.fc8(h7)
        return logits, {"fc6": h6, "fc7": h7, "fc8": logits}

    def param_groups(self, lr: float, pretrained_backbone: bool) -> List[Dict]:
        """Pretrained layers at lr, new layers at 10 lr (a scratch backbone trains at 10 lr too)."""
        new = [p for n, p in self.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
        old = [p for p in self.backbone.parameters() if p.requires_grad]
        return [{"params": old, "lr_mult": 1.0 if pretrained_backbone else 10.0},
                {"params": new, "lr_mult": 10.0}]


def build_model(backbone: str, num_classes: int, weights: Optional[str] = None, dropout: float = 0.25) -> DANNet:
    if backbone == "digits_cnn":
        return DANNet(DigitsCNN(), num_classes, dropout=dropout)
    if backbone in ("resnet50", "alexnet"):
        return DANNet(TorchvisionBackbone(backbone, weights), num_classes, widths=(1024, 256), dropout=dropout)
    raise ValueError(f"unknown backbone {backbone!r}: expected digits_cnn, resnet50 or alexnet")
