"""DANN through the method seam: the gradient reversal, the paper's schedule, the discriminator's
loss and the gradients it sends each way, its own optimiser group and checkpointed state, a
resume bit for bit, and a run under two gloo ranks."""
import json
import math
import os
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from dan.config import TrainConfig, checked
from dan.methods import get_method
from dan.methods.dann import DANN, reversal_coefficient, reverse_gradient
from dan.models import build_model
from dan.trainer import Trainer
from dan_helpers import free_port, straight_and_resumed, toy_domains, train_step


def test_reversal_is_identity_forward_and_minus_coeff_backward():
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    y = reverse_gradient(x, 0.3)
    assert torch.equal(y, x)
    (g,) = torch.autograd.grad((y * torch.arange(3.0, dtype=torch.float64)).sum(), x)
    assert torch.equal(g, -0.3 * torch.arange(3.0, dtype=torch.float64).expand(5, 3))


def test_the_papers_schedule():
    assert reversal_coefficient(0.0, True) == 0.0
    assert reversal_coefficient(1.0, True) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert reversal_coefficient(0.5, True) == pytest.approx(0.9866, abs=1e-4)
    assert reversal_coefficient(0.0, False) == 1.0


def _features(seed=0, n=6, d=8):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen) + 1


def test_loss_is_the_mean_of_the_two_domains_cross_entropies():
    dann = DANN("fc7", 8).eval()  # no dropout: the value is a function of the features
    fs, ft = _features()
    loss = dann({"fc7": fs}, {"fc7": ft}, 0.5)
    ds, dt = dann.discriminator(fs).squeeze(1).double(), dann.discriminator(ft).squeeze(1).double()
    expect = -0.5 * (torch.log(torch.sigmoid(ds)).mean() + torch.log(1 - torch.sigmoid(dt)).mean())
    assert float(loss.detach()) == pytest.approx(float(expect.detach()), rel=1e-5)
    assert [m.out_features for m in dann.discriminator if isinstance(m, torch.nn.Linear)] == [1024, 1024, 1]
    assert [m.p for m in dann.discriminator if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]


def test_the_discriminator_descends_and_the_features_ascend_its_loss():
    dann = DANN("fc7", 8).eval()
    fs, ft = _features()
    fs.requires_grad_(True)
    p = 0.3
    loss = dann({"fc7": fs}, {"fc7": ft}, p)
    g_feat, g_disc = torch.autograd.grad(loss, (fs, dann.discriminator[0].weight))
    plain = 0.5 * (F.binary_cross_entropy_with_logits(dann.discriminator(fs).squeeze(1), torch.ones(6))
                   + F.binary_cross_entropy_with_logits(dann.discriminator(ft).squeeze(1), torch.zeros(6)))
    h_feat, h_disc = torch.autograd.grad(plain, (fs, dann.discriminator[0].weight))
    torch.testing.assert_close(g_disc, h_disc)  # the discriminator gets its loss's gradient
    torch.testing.assert_close(g_feat, -reversal_coefficient(p, True) * h_feat)  # the features its reverse


def test_the_trainer_gives_it_its_own_group_and_weighs_it_by_lam_without_ramp(tmp_path):
    src, tgt = toy_domains()
    tr = Trainer(TrainConfig(source="toy", target="toy", method="dann", epochs=2, batch_size=32, lam=0.7,
                             out=str(tmp_path)), src, tgt, progress=False)
    disc = list(tr.penalty.discriminator.parameters())
    assert tr.opt.param_groups[-1]["params"] == disc and tr.opt.param_groups[-1]["lr_mult"] == 10.0
    assert tr.penalty.discriminator[0].in_features == 128  # digits_cnn's fc7
    first = train_step(tr, torch.arange(32), torch.arange(32))
    assert first["lambda"] == 0.7 and first["reversal"] == 0.0  # the ramp is on the reversal only
    before = disc[0].detach().clone()
    train_step(tr, torch.arange(32), torch.arange(32))
    assert not torch.equal(before, disc[0])  # it learns from the first step on


def test_dann_resumes_bit_for_bit_with_its_discriminator(tmp_path):
    straight, _, a, b = straight_and_resumed(tmp_path, "dann")
    assert a["history"] == b["history"]
    for part in ("model", "penalty"):
        assert set(a[part]) == set(b[part]) and all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    assert "discriminator.6.weight" in a["penalty"] and 0 <= straight["final_domain_accuracy"] <= 1


def test_build_reads_the_penultimate_layers_width():
    for backbone, width in (("digits_cnn", 128),):
        net = build_model(backbone, 10)
        assert get_method("dann").build(TrainConfig(method="dann"), net).discriminator[0].in_features == width
    fake = SimpleNamespace(adapted=("bottleneck", "logits"), width=lambda name: {"bottleneck": 256}[name])
    assert get_method("dann").build(TrainConfig(method="dann"), fake).layers == ("bottleneck",)
    with pytest.raises(ValueError, match="method dann has no kernel weights"):
        # the one rule of dan.config: a setting the method does not declare
        checked(TrainConfig(method="dann", fixed_betas="1,1,1,1,1"), load_source=False, load_target=False)


def _worker(rank, world, port, out, src, tgt):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    torch.set_num_threads(1)
    cfg = TrainConfig(source="toy", target="toy", method="dann", epochs=1, batch_size=32, iters_per_epoch=3, out=str(out))
    out.mkdir(parents=True, exist_ok=True)  # a Trainer of our own, not train(): no run folder is made
    tr = Trainer(cfg, src, tgt, progress=False)
    assert isinstance(tr.penalty_net, torch.nn.parallel.DistributedDataParallel)
    tr.fit()
    torch.save({k: v.clone() for k, v in tr.penalty.state_dict().items()}, out.parent / f"disc{rank}.pt")
    del tr  # the DDP wrappers go before their process group (freed after it, a rank can abort at exit)
    torch.distributed.destroy_process_group()


def test_under_two_ranks_the_discriminator_is_one(tmp_path):
    """DDP averages the discriminator's gradients: both ranks end with the same discriminator."""
    import torch.multiprocessing as mp

    src, tgt = toy_domains(n=128)
    mp.spawn(_worker, args=(2, free_port(), tmp_path / "ddp", src, tgt), nprocs=2, join=True)
    d0, d1 = (torch.load(tmp_path / f"disc{r}.pt", weights_only=True) for r in range(2))
    assert all(torch.equal(d0[k], d1[k]) for k in d0)
    result = json.loads((tmp_path / "ddp" / "result.json").read_text())
    assert result["world_size"] == 2 and 0 <= result["final_domain_accuracy"] <= 1
