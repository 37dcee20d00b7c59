"""The torchvision backbones (resnet50, resnet101, alexnet): adapted layers and their shapes,
frozen layers that stay frozen through a training step, the learning-rate groups, weights from a
local file and from torchvision's cache. torchvision does not import beside the CPU torch 2.13
of the main environment; .ci/run runs this file in a second one (torch 2.14.1, torchvision 0.29.1)."""
import pytest
import torch

tv = pytest.importorskip("torchvision", reason="torchvision does not import beside this torch (CI runs this file "
                         "in its torch 2.14.1 + torchvision 0.29.1 environment)")

from dan.runs.checkpoint import CHECKPOINT, load_checkpoint  # noqa: E402
from dan.config import TrainConfig  # noqa: E402
from dan.models import build_model  # noqa: E402
from dan.trainer import train  # noqa: E402
from image_helpers import write_domain  # noqa: E402

ADAPTED = {"resnet50": (("bottleneck", 256), ("logits", 3)), "resnet101": (("bottleneck", 256), ("logits", 3)),
           "alexnet": (("fc6", 4096), ("fc7", 4096), ("fc8", 3))}


def _local_weights(tmp_path, name):
    path = tmp_path / f"{name}.pth"
    torch.manual_seed(1)
    torch.save(getattr(tv.models, name)(weights=None).state_dict(), path)
    return path


@pytest.mark.parametrize("name", list(ADAPTED))
def test_adapted_layers_frozen_layers_and_lr_groups(tmp_path, name):
    path = _local_weights(tmp_path, name)
    model = build_model(name, 3, str(path))
    reference = torch.load(path, weights_only=True)
    logits, feats = model(torch.rand(2, 3, 64, 64))
    assert model.adapted == tuple(n for n, _ in ADAPTED[name]) and logits.shape == (2, 3)
    assert {n: f.shape[1] for n, f in feats.items()} == dict(ADAPTED[name])
    old, new = model.param_groups(0.003)
    assert old["lr_mult"] == 1.0 and new["lr_mult"] == 10.0
    names = {id(p): n for n, p in model.named_parameters()}
    new_names = {names[id(p)] for p in new["params"]}
    if name == "alexnet":
        # the paper: conv1-conv3 frozen; conv4-5, fc6, fc7 pretrained at lr; a new fc8 at 10 lr
        frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
        assert frozen == {f"backbone.0.{i}.{w}" for i in (0, 3, 6) for w in ("weight", "bias")}
        assert new_names == {"fc8.weight", "fc8.bias"}
        torch.testing.assert_close(model.fc6[1].weight, reference["classifier.1.weight"], rtol=0, atol=0)
        torch.testing.assert_close(model.fc7[1].weight, reference["classifier.4.weight"], rtol=0, atol=0)
    else:
        assert all(p.requires_grad for p in model.parameters())
        assert new_names == {n for n, _ in model.named_parameters() if not n.startswith("backbone.")}
        torch.testing.assert_close(model.backbone.conv1.weight, reference["conv1.weight"], rtol=0, atol=0)


@pytest.mark.parametrize("name", list(ADAPTED))
def test_one_training_step_on_a_folder(tmp_path, name):
    src, tgt = write_domain(tmp_path / "a", per_class=3), write_domain(tmp_path / "b", per_class=3, shift=30)
    path = _local_weights(tmp_path, name)
    r = train(TrainConfig(source=f"folder:{src}", target=f"folder:{tgt}", backbone=name, weights=str(path),
                          image_size=64, batch_size=4, iters_per_epoch=1, epochs=1, workers=0,
                          out=str(tmp_path / "run")), progress=False)
    assert r["steps"] == 1 and set(r["betas"]) == {n for n, _ in ADAPTED[name]}
    after = load_checkpoint(tmp_path / "run" / CHECKPOINT)["model"]
    before = build_model(name, 3, str(path)).state_dict()
    if name == "alexnet":  # frozen layers unchanged, fine-tuned ones moved
        assert torch.equal(after["backbone.0.0.weight"], before["backbone.0.0.weight"])
        assert not torch.equal(after["backbone.0.10.weight"], before["backbone.0.10.weight"])
        assert not torch.equal(after["fc6.1.weight"], before["fc6.1.weight"])
    else:
        assert not torch.equal(after["backbone.conv1.weight"], before["backbone.conv1.weight"])


def test_imagenet_weights_come_from_torchvisions_cache_or_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    url = tv.models.ResNet50_Weights.IMAGENET1K_V1.url
    cached = tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    try:
        build_model("resnet50", 3, "imagenet")
    except ValueError as err:  # no network (as on CI): the message names the file and where to put it
        assert f"place {cached.name} (from {url}) at {cached}" in str(err)
    else:
        pytest.skip("this machine downloaded the weights")
    cached.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(3)
    torch.save(tv.models.resnet50(weights=None).state_dict(), cached)
    model = build_model("resnet50", 3, "imagenet")
    torch.testing.assert_close(model.backbone.conv1.weight, torch.load(cached, weights_only=True)["conv1.weight"])
