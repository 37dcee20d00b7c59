"""DAN networks: a backbone, then adapted layers that are penalised with MK-MMD. Every network
returns its logits and a dict of its adapted layers' activations; ``adapted`` lists them in order,
the last being the logits, so the paper's variants map onto any backbone (methods/mkmmd.py):
DAN7 = the penultimate adapted layer, DAN8 = the logits, DAN = all adapted layers.

Each backbone's layers, weights and inputs are its spec in backbones.py (BACKBONES); this module
only reads them.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from dan.models.backbones import BACKBONES, either, names
from dan.models.freezing import check_stages, keep_frozen_norms_in_eval

__all__ = ["BACKBONES", "DANNet", "build_model", "check_input_shape"]


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
        self.frozen_modules: Tuple[str, ...] = ()  # set by freezing.Freezer (--freeze, --unfreeze-every)

    def train(self, mode: bool = True):
        """nn.Module.train, except that BatchNorm layers of frozen stages stay in eval mode
        (freezing.py says why)."""
        super().train(mode)
        keep_frozen_norms_in_eval(self)
        return self

    def forward(self, x) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """(logits, {adapted layer: features}) for a batch x, the logits being the last adapted layer's output."""
        h = self.backbone(x)
        feats = {}
        for name in self.adapted:
            h = feats[name] = getattr(self, name)(h)
        return h, feats

    def width(self, name: str) -> int:
        """How many features the adapted layer ``name`` gives (its last Linear's outputs): what a
        method that adds layers of its own on top (DANN's discriminator) is built for."""
        linears = [m for m in getattr(self, name).modules() if isinstance(m, nn.Linear)]
        return linears[-1].out_features

    def param_groups(self, lr: float) -> List[Dict]:
        """Pretrained layers at lr, new layers (and everything of a scratch network) at 10 lr."""
        old, new = [], []
        for n, p in self.named_parameters():
            if p.requires_grad:
                (old if n.startswith(self.pretrained_prefixes) else new).append(p)
        return [{"params": old, "lr_mult": 1.0}, {"params": new, "lr_mult": 10.0}]


def build_model(backbone: str, num_classes: int, weights: Optional[str] = None, dropout: float = 0.25) -> DANNet:
    """``weights``: "imagenet", a local state-dict file, or None (random initialisation)."""
    spec = BACKBONES.get(backbone)
    if spec is None:
        raise ValueError(f"unknown backbone {backbone!r}: expected one of {', '.join(BACKBONES)}")
    if weights is not None and not spec.takes_weights:
        raise ValueError(f"--weights: the {backbone} backbone is trained from scratch and takes no weights")
    body, layers, pretrained = spec.build(spec, num_classes, weights, dropout)
    model = DANNet(body, layers, pretrained)
    if model.adapted != spec.adapted:  # the spec is what methods and messages are told
        raise AssertionError(f"the {backbone} builder made adapted layers {model.adapted}, "
                             f"its spec says {spec.adapted}")
    check_stages(spec, model)  # what --freeze is told
    return model


def check_input_shape(backbone: str, domain) -> None:
    """One-line error when a domain's images cannot go through the backbone (e.g. a folder: domain,
    3 x 224 x 224, into the 1 x 8 x 8 digits_cnn, or images smaller than the network takes)."""
    shape = tuple(domain.input_shape)
    spec = BACKBONES[backbone]
    channels, size = spec.channels, spec.min_size
    if spec.digits:  # the digit arrays come in one size
        ok = shape == (channels, size, size)
        need = f"{channels} x {size} x {size} digit images (the digits, mnist and printed domains)"
        hint = f"; for image folders use --backbone {either(names(digits=False))}"
    else:
        ok = len(shape) == 3 and shape[0] == channels and min(shape[1:]) >= size
        need = f"{channels}-channel images of at least {size} x {size} pixels"
        digit = [s for s in BACKBONES.values() if s.digits and shape[:1] == (s.channels,)]  # digit arrays?
        hint = (f"; for the {digit[0].min_size}x{digit[0].min_size} digit domains use --backbone "
                f"{either(s.name for s in digit)}" if digit else f"; raise --image-size to {size} or more")
    if not ok:
        raise ValueError(f"--backbone {backbone} takes {need}, but {domain.name} gives "
                         f"{' x '.join(map(str, shape))}{hint}")
