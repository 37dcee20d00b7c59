"""The backbones, one specification each (BACKBONES). Everything that differs between backbones is
read from its spec: config (the default --weights, the checks before a run), check_input_shape,
build_model, dan predict and the CLI's help. Adding a backbone is one Backbone entry plus its
builder function.

    backbone            adapted layers                          pretrained (lr x1)        new (lr x10)
    digits_cnn          fc6, fc7 (256, 128, ReLU), fc8 logits   none (all trained x10)    all
    efficientnet_lite0  bottleneck (256), logits                the network (ImageNet)    bottleneck, logits
    resnet50/resnet101  bottleneck (256), logits                the network (ImageNet)    bottleneck, logits
    alexnet             fc6, fc7 (AlexNet's own, 4096), fc8     conv4-5, fc6, fc7         fc8
                        (conv1-conv3 frozen, as in the paper)

The bottleneck is Linear + BatchNorm + ReLU, as in the common DAN re-implementations.

Each spec also names its body's stages, input to output, for --freeze and --unfreeze-every
(models/freezing.py); together they hold every parameter of the body:

    digits_cnn          conv1, conv2
    efficientnet_lite0  stem, stage1 ... stage7 (EfficientNet's block groups), conv_head (the 1x1 to 1280)
    resnet50/resnet101  stem (conv1, bn1), layer1 ... layer4
    alexnet             conv1 ... conv5, fc6, fc7 (the pretrained adapted layers; conv1-conv3 never train)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, List, NamedTuple, Optional, Tuple

import torch
from torch import nn

from dan.extras import IMAGES, TORCHVISION, Extra, MissingExtra

# Where a backbone's "--weights imagenet" come from.
NO_WEIGHTS = "none"              # trained from scratch: --weights is refused
PACKAGED = "packaged file"       # a file inside a pip package (weights_extra), offline
TORCHVISION_HUB = "torchvision hub"  # torchvision's download, cached by torch.hub


class Stage(NamedTuple):
    """A named group of the body, frozen and unfrozen together: module paths in the DANNet (e.g.
    "backbone.layer1"); a parameter is in the stage when its name starts with one of them."""
    name: str
    modules: Tuple[str, ...]


class Parts(NamedTuple):
    """What a builder returns; build_model puts it together as DANNet(body, layers, pretrained)."""
    body: nn.Module
    layers: List[Tuple[str, nn.Module]]  # the adapted layers, in order, the last giving the logits
    pretrained: Tuple[str, ...]          # parameter-name prefixes that start pretrained (trained at lr)


@dataclass(frozen=True)
class Backbone:
    """One backbone ``--backbone`` names: how to build it, its input channels and smallest size,
    the adapted layers the methods see (the last gives the logits), where ImageNet weights come
    from, the default ``--weights``, and the extras it needs."""

    name: str
    # builder(spec, num_classes, weights, dropout) -> Parts; weights: "imagenet", a file or None.
    # Its modules are created in a fixed order: the seeded initial weights depend on it.
    build: Callable[["Backbone", int, Optional[str], float], Parts]
    channels: int                # input channels
    min_size: int                # smallest input height and width (exactly this size for digit arrays)
    adapted: Tuple[str, ...]     # the adapted layers' names, the last being the logits
    weights_from: str = NO_WEIGHTS
    default_weights: Optional[str] = None  # --weights when not given: "imagenet" only if it needs no download
    extra: Optional[Extra] = None          # needed to build the network at all
    weights_extra: Optional[Extra] = None  # needed only for --weights imagenet
    digits: bool = False         # takes the 8x8 digit arrays (digits, mnist, printed), not image folders
    # the body's stages from input to output, for --freeze STAGE and --unfreeze-every (freezing.py);
    # build_model checks that they name modules of the network and hold every body parameter
    stages: Tuple[Stage, ...] = ()

    @property
    def takes_weights(self) -> bool:
        """Whether ``--weights`` applies (pretrained weights exist for it)."""
        return self.weights_from != NO_WEIGHTS


def names(**where) -> Tuple[str, ...]:
    """The backbones (in registry order) whose spec has the given field values, e.g. digits=False."""
    return tuple(n for n, s in BACKBONES.items() if all(getattr(s, k) == v for k, v in where.items()))


def either(items) -> str:
    """'a', 'a or b', 'a, b or c'."""
    items = list(items)
    return " or ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


# ---- loading weights --------------------------------------------------------------------------

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


def _torchvision():
    try:
        import torchvision  # noqa: F401
    except Exception as err:  # not installed, or built for another torch
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MissingExtra(
            f"the {'/'.join(names(extra=TORCHVISION))} backbones need torchvision built for this torch: pip install "
            f"\"dan_ext[{TORCHVISION.name}]\" (e.g. torch==2.14.1 with torchvision==0.29.1); import failed: {first}"
        ) from None
    return torchvision


def _imagenet_state(tv, name: str, enum_name: str) -> dict:
    """torchvision's standard ImageNet weights (tv.models.ENUM_NAME): from torch.hub's cache,
    downloaded there when a network is available; otherwise a one-line error naming the file to place."""
    from pathlib import Path

    enum = getattr(tv.models, enum_name).IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    try:
        return enum.get_state_dict(progress=False, check_hash=False)
    except Exception as err:  # no network here (URLError), a proxy, a partial download ...
        raise ValueError(f"--weights imagenet: cannot get torchvision's {name} weights ({type(err).__name__}); "
                         f"place {Path(enum.url).name} (from {enum.url}) at {cached}, or pass --weights PATH") from None


def _torchvision_net(name: str, enum_name: str, weights: Optional[str]) -> nn.Module:
    tv = _torchvision()
    net = getattr(tv.models, name)(weights=None)
    if weights is not None:
        state = _imagenet_state(tv, name, enum_name) if weights == "imagenet" else _local_state(weights)
        _load(net, state, name, f"--weights {weights}")
    return net


# ---- builders ---------------------------------------------------------------------------------

class Bottleneck(nn.Sequential):
    def __init__(self, cin: int, width: int = 256):
        super().__init__(nn.Linear(cin, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True))


def _bottleneck_head(body: nn.Module, width: int, num_classes: int, pretrained: bool) -> Parts:
    layers = [("bottleneck", Bottleneck(width)), ("logits", nn.Linear(256, num_classes))]
    return Parts(body, layers, ("backbone.",) if pretrained else ())


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


def _digits_cnn(spec: Backbone, num_classes: int, weights: Optional[str], dropout: float) -> Parts:
    cnn = DigitsCNN()  # first: the initial weights draw from the seeded RNG in this order (as in 0.1)
    layers = [("fc6", nn.Sequential(nn.Linear(512, 256), nn.ReLU(inplace=True), nn.Dropout(dropout))),
              ("fc7", nn.Sequential(nn.Linear(256, 128), nn.ReLU(inplace=True), nn.Dropout(dropout))),
              ("fc8", nn.Linear(128, num_classes))]
    return Parts(cnn, layers, ())


class _ImageNetToTF(nn.Module):
    """ImageNet-normalised input -> the (x * 255 - 127) / 128 scaling the TensorFlow-trained
    EfficientNet-Lite weights expect (one per-channel affine map)."""

    def __init__(self):
        super().__init__()
        from dan.data.transforms import MEAN, STD

        self.register_buffer("scale", torch.tensor(STD * 255 / 128).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", torch.tensor((MEAN * 255 - 127) / 128).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        return x * self.scale + self.shift


def _efficientnet(spec: Backbone, num_classes: int, weights: Optional[str], dropout: float) -> Parts:
    from dan.models.efficientnet_lite import EfficientNetLite0, pretrained_weights_path

    net = EfficientNetLite0()
    if weights == "imagenet":
        _load(net, _local_state(pretrained_weights_path()), spec.name, "the packaged ImageNet weights")
    elif weights is not None:
        _load(net, _local_state(weights), spec.name, f"--weights {weights}")
    del net._fc  # DAN's own layers replace the ImageNet classifier
    return _bottleneck_head(nn.Sequential(_ImageNetToTF(), net), net.out_features, num_classes, weights is not None)


def _resnet(spec: Backbone, num_classes: int, weights: Optional[str], dropout: float, *, enum_name: str) -> Parts:
    net = _torchvision_net(spec.name, enum_name, weights)
    net.fc = nn.Identity()  # pooled 2048-d features
    return _bottleneck_head(net, 2048, num_classes, weights is not None)


def _alexnet(spec: Backbone, num_classes: int, weights: Optional[str], dropout: float, *, enum_name: str) -> Parts:
    """The paper's network: AlexNet's conv1-conv3 frozen, conv4-conv5 and its own fc6, fc7
    fine-tuned, a new fc8; the adapted layers are fc6, fc7, fc8."""
    net = _torchvision_net(spec.name, enum_name, weights)
    for p in net.features[:8].parameters():  # conv1-conv3 (with their ReLUs and pools)
        p.requires_grad_(False)
    cls = net.classifier  # Dropout, fc6, ReLU, Dropout, fc7, ReLU, fc (ImageNet)
    backbone = nn.Sequential(net.features, net.avgpool, nn.Flatten())
    layers = [("fc6", nn.Sequential(nn.Dropout(dropout), cls[1], nn.ReLU(inplace=True))),
              ("fc7", nn.Sequential(nn.Dropout(dropout), cls[4], nn.ReLU(inplace=True))),
              ("fc8", nn.Linear(4096, num_classes))]
    return Parts(backbone, layers, ("backbone.", "fc6.", "fc7.") if weights is not None else ())


# ---- the stages (input to output) ------------------------------------------------------------

def _efficientnet_stages() -> Tuple[Stage, ...]:
    """stem, one stage per row of EfficientNet's block table (its blocks, in order), conv_head."""
    from dan.models.efficientnet_lite import STAGES

    net = "backbone.1."  # the body is Sequential(_ImageNetToTF(), EfficientNetLite0())
    stages, first = [Stage("stem", (net + "_conv_stem", net + "_bn0"))], 0
    for i, (repeats, *_rest) in enumerate(STAGES):
        stages.append(Stage(f"stage{i + 1}", tuple(f"{net}_blocks.{b}" for b in range(first, first + repeats))))
        first += repeats
    return (*stages, Stage("conv_head", (net + "_conv_head", net + "_bn1")))


_DIGITS_STAGES = (Stage("conv1", ("backbone.body.0",)), Stage("conv2", ("backbone.body.2",)))
_RESNET_STAGES = (Stage("stem", ("backbone.conv1", "backbone.bn1")),
                  *(Stage(f"layer{i}", (f"backbone.layer{i}",)) for i in range(1, 5)))
# torchvision's AlexNet.features: conv1 at 0, conv2 at 3, conv3 at 6, conv4 at 8, conv5 at 10
_ALEXNET_STAGES = (*(Stage(f"conv{i + 1}", (f"backbone.0.{k}",)) for i, k in enumerate((0, 3, 6, 8, 10))),
                   Stage("fc6", ("fc6",)), Stage("fc7", ("fc7",)))


# ---- the registry -----------------------------------------------------------------------------

_PAPER, _BOTTLENECK = ("fc6", "fc7", "fc8"), ("bottleneck", "logits")
# Its order is the order every message and help text lists the backbones in.
#: every backbone ``--backbone`` accepts, by name: its :class:`Backbone` spec (adapted layers, input
#: size, weights and the extra that provides them)
BACKBONES = {spec.name: spec for spec in (
    Backbone("digits_cnn", _digits_cnn, channels=1, min_size=8, adapted=_PAPER, digits=True,
             stages=_DIGITS_STAGES),
    # its ImageNet weights ship in a package (offline): pretrained by default
    Backbone("efficientnet_lite0", _efficientnet, channels=3, min_size=32, adapted=_BOTTLENECK,
             weights_from=PACKAGED, default_weights="imagenet", weights_extra=IMAGES, stages=_efficientnet_stages()),
    Backbone("resnet50", partial(_resnet, enum_name="ResNet50_Weights"), channels=3, min_size=32,
             adapted=_BOTTLENECK, weights_from=TORCHVISION_HUB, extra=TORCHVISION, stages=_RESNET_STAGES),
    Backbone("resnet101", partial(_resnet, enum_name="ResNet101_Weights"), channels=3, min_size=32,
             adapted=_BOTTLENECK, weights_from=TORCHVISION_HUB, extra=TORCHVISION, stages=_RESNET_STAGES),
    # 63: the smallest input whose conv5 output survives AlexNet's last max-pool
    Backbone("alexnet", partial(_alexnet, enum_name="AlexNet_Weights"), channels=3, min_size=63,
             adapted=_PAPER, weights_from=TORCHVISION_HUB, extra=TORCHVISION, stages=_ALEXNET_STAGES),
)}
