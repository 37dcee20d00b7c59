"""DAN networks: a backbone, then adapted layers that are penalised with MK-MMD. Every network
returns its logits and a dict of its adapted layers' activations; ``adapted`` lists them in order,
the last being the logits, so the paper's variants map onto any backbone (methods.py):
DAN7 = the penultimate adapted layer, DAN8 = the logits, DAN = all adapted layers.

    backbone            adapted layers                          pretrained (lr x1)        new (lr x10)
    digits_cnn          fc6, fc7 (256, 128, ReLU), fc8 logits   none (all trained x10)    all
    efficientnet_lite0  bottleneck (256), logits                the network (ImageNet)    bottleneck, logits
    resnet50/resnet101  bottleneck (256), logits                the network (ImageNet)    bottleneck, logits
    alexnet             fc6, fc7 (AlexNet's own, 4096), fc8     conv4-5, fc6, fc7         fc8
                        (conv1-conv3 frozen, as in the paper)

The bottleneck is Linear + BatchNorm + ReLU, as in the common DAN re-implementations.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from .extras import MissingExtra

BACKBONES = ("digits_cnn", "efficientnet_lite0", "resnet50", "resnet101", "alexnet")
TORCHVISION = ("resnet50", "resnet101", "alexnet")
PRETRAINABLE = ("efficientnet_lite0",) + TORCHVISION
# Smallest input each backbone takes: (channels, minimum height and width).
_INPUTS = {"digits_cnn": (1, 8), "efficientnet_lite0": (3, 32), "resnet50": (3, 32), "resnet101": (3, 32),
           "alexnet": (3, 63)}


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
            "the resnet50/resnet101/alexnet backbones need torchvision built for this torch: pip install "
            f"\"dan_ext[torchvision]\" (e.g. torch==2.14.1 with torchvision==0.29.1); import failed: {first}"
        ) from None
    return torchvision


def _imagenet_state(tv, name: str) -> dict:
    """torchvision's standard ImageNet weights: from torch.hub's cache, downloaded there when a
    network is available; otherwise a one-line error naming the file to place."""
    from pathlib import Path

    enum = {"resnet50": tv.models.ResNet50_Weights, "resnet101": tv.models.ResNet101_Weights,
            "alexnet": tv.models.AlexNet_Weights}[name].IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    try:
        return enum.get_state_dict(progress=False, check_hash=False)
    except Exception as err:  # no network here (URLError), a proxy, a partial download ...
        raise ValueError(f"--weights imagenet: cannot get torchvision's {name} weights ({type(err).__name__}); "
                         f"place {Path(enum.url).name} (from {enum.url}) at {cached}, or pass --weights PATH") from None


def _local_state(path: str) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"--weights {path}: no such file") from None
    except Exception as err:
        raise ValueError(f"--weights {path}: cannot read it as a state dict ({str(err).splitlines()[0]})") from None
    if not isinstance(state, dict):
        raise ValueError(f"--weights {path}: expected a state dict, got {type(state).__name__}")
    return state


def _load(net: nn.Module, state: dict, name: str, source: str) -> None:
    """Load a backbone state dict, ignoring only the ImageNet classifier, which DAN replaces."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise ValueError(f"{source} does not match the {name} network: {len(missing)} of its tensors are missing "
                         f"(e.g. {missing[0]})")
    bad = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        raise ValueError(f"{source} does not match the {name} network: {bad[0]} has shape "
                         f"{tuple(state[bad[0]].shape)}, expected {tuple(own[bad[0]].shape)}")
    net.load_state_dict({k: state[k] for k in own})


class Bottleneck(nn.Sequential):
    def __init__(self, cin: int, width: int = 256):
        super().__init__(nn.Linear(cin, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True))


class DANNet(nn.Module):
    """backbone -> adapted layers. ``layers`` are applied in order; each one's output is recorded
    under its name; the last is the logits. ``pretrained``: names of the parameters that start
    from pretrained values (trained at the base learning rate; the rest at 10x)."""

    def __init__(self, backbone: nn.Module, layers: List[Tuple[str, nn.Module]], pretrained_prefixes=()):
        super().__init__()
        self.backbone = backbone
        self.adapted = tuple(name for name, _ in layers)
        for name, layer in layers:
            self.add_module(name, layer)
        self.pretrained_prefixes = tuple(pretrained_prefixes)

    def forward(self, x) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        h = self.backbone(x)
        feats = {}
        for name in self.adapted:
            h = feats[name] = getattr(self, name)(h)
        return h, feats

    def param_groups(self, lr: float) -> List[Dict]:
        """Pretrained layers at lr, new layers (and everything of a scratch network) at 10 lr."""
        old, new = [], []
        for n, p in self.named_parameters():
            if p.requires_grad:
                (old if n.startswith(self.pretrained_prefixes) else new).append(p)
        return [{"params": old, "lr_mult": 1.0}, {"params": new, "lr_mult": 10.0}]


class _ImageNetToTF(nn.Module):
    """ImageNet-normalised input -> the (x * 255 - 127) / 128 scaling the TensorFlow-trained
    EfficientNet-Lite weights expect (one per-channel affine map)."""

    def __init__(self):
        super().__init__()
        from .transforms import MEAN, STD

        self.register_buffer("scale", torch.tensor(STD * 255 / 128).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", torch.tensor((MEAN * 255 - 127) / 128).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        return x * self.scale + self.shift


def _efficientnet(weights: Optional[str]) -> Tuple[nn.Module, int, bool]:
    from .efficientnet_lite import EfficientNetLite0, pretrained_weights_path

    net = EfficientNetLite0()
    if weights == "imagenet":
        _load(net, _local_state(pretrained_weights_path()), "efficientnet_lite0", "the packaged ImageNet weights")
    elif weights is not None:
        _load(net, _local_state(weights), "efficientnet_lite0", f"--weights {weights}")
    del net._fc  # DAN's own layers replace the ImageNet classifier
    return nn.Sequential(_ImageNetToTF(), net), net.out_features, weights is not None


def _resnet(name: str, weights: Optional[str]) -> Tuple[nn.Module, int, bool]:
    tv = _torchvision()
    net = getattr(tv.models, name)(weights=None)
    if weights is not None:
        state = _imagenet_state(tv, name) if weights == "imagenet" else _local_state(weights)
        _load(net, state, name, f"--weights {weights}")
    net.fc = nn.Identity()  # pooled 2048-d features
    return net, 2048, weights is not None


def _alexnet(num_classes: int, weights: Optional[str], dropout: float) -> DANNet:
    """The paper's network: AlexNet's conv1-conv3 frozen, conv4-conv5 and its own fc6, fc7
    fine-tuned, a new fc8; the adapted layers are fc6, fc7, fc8."""
    tv = _torchvision()
    net = tv.models.alexnet(weights=None)
    if weights is not None:
        state = _imagenet_state(tv, "alexnet") if weights == "imagenet" else _local_state(weights)
        _load(net, state, "alexnet", f"--weights {weights}")
    for p in net.features[:8].parameters():  # conv1-conv3 (with their ReLUs and pools)
        p.requires_grad_(False)
    cls = net.classifier  # Dropout, fc6, ReLU, Dropout, fc7, ReLU, fc (ImageNet)
    backbone = nn.Sequential(net.features, net.avgpool, nn.Flatten())
    layers = [("fc6", nn.Sequential(nn.Dropout(dropout), cls[1], nn.ReLU(inplace=True))),
              ("fc7", nn.Sequential(nn.Dropout(dropout), cls[4], nn.ReLU(inplace=True))),
              ("fc8", nn.Linear(4096, num_classes))]
    pretrained = ("backbone.", "fc6.", "fc7.") if weights is not None else ()
    return DANNet(backbone, layers, pretrained)


def build_model(backbone: str, num_classes: int, weights: Optional[str] = None, dropout: float = 0.25) -> DANNet:
    """``weights``: "imagenet", a local state-dict file, or None (random initialisation)."""
    if backbone == "digits_cnn":
        if weights is not None:
            raise ValueError("--weights: the digits_cnn backbone is trained from scratch and takes no weights")
        cnn = DigitsCNN()  # first: the initial weights draw from the seeded RNG in this order (as in 0.1)
        layers = [("fc6", nn.Sequential(nn.Linear(512, 256), nn.ReLU(inplace=True), nn.Dropout(dropout))),
                  ("fc7", nn.Sequential(nn.Linear(256, 128), nn.ReLU(inplace=True), nn.Dropout(dropout))),
                  ("fc8", nn.Linear(128, num_classes))]
        return DANNet(cnn, layers)
    if backbone == "alexnet":
        return _alexnet(num_classes, weights, dropout)
    if backbone == "efficientnet_lite0":
        net, width, pretrained = _efficientnet(weights)
    elif backbone in ("resnet50", "resnet101"):
        net, width, pretrained = _resnet(backbone, weights)
    else:
        raise ValueError(f"unknown backbone {backbone!r}: expected one of {', '.join(BACKBONES)}")
    layers = [("bottleneck", Bottleneck(width)), ("logits", nn.Linear(256, num_classes))]
    return DANNet(net, layers, ("backbone.",) if pretrained else ())


def check_input_shape(backbone: str, domain) -> None:
    """One-line error when a domain's images cannot go through the backbone (e.g. a folder: domain,
    3 x 224 x 224, into the 1 x 8 x 8 digits_cnn, or images smaller than the network takes)."""
    shape = tuple(domain.input_shape)
    channels, size = _INPUTS[backbone]
    if backbone == "digits_cnn":
        ok = shape == (1, 8, 8)
        need = "1 x 8 x 8 digit images (the digits, mnist and printed domains)"
        hint = "; for image folders use --backbone efficientnet_lite0, resnet50, resnet101 or alexnet"
    else:
        ok = len(shape) == 3 and shape[0] == channels and min(shape[1:]) >= size
        need = f"{channels}-channel images of at least {size} x {size} pixels"
        hint = ("; for the 8x8 digit domains use --backbone digits_cnn" if shape[0] == 1
                else f"; raise --image-size to {size} or more")
    if not ok:
        raise ValueError(f"--backbone {backbone} takes {need}, but {domain.name} gives "
                         f"{' x '.join(map(str, shape))}{hint}")
