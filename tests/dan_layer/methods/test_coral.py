"""Deep CORAL through the method seam: its loss and gradient against a float64 reference written
from the paper's formula, its invariances, the same value under DDP as in one process, and a run
of dan train with it that resumes bit for bit."""
from types import SimpleNamespace

import pytest
import torch

from dan.config import TrainConfig, checked
from dan.methods import get_method
from dan.methods.coral import coral
from dan_helpers import straight_and_resumed


def reference(xs: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
    """Sun and Saenko (2016), Eq. 1-3, in float64 with torch.cov (unbiased, rows as observations)."""
    d = xs.shape[1]
    cs, ct = torch.cov(xs.double().T), torch.cov(xt.double().T)
    return ((cs - ct) ** 2).sum() / (4 * d * d)


@pytest.mark.parametrize("ns, nt, d", [(2, 2, 1), (8, 12, 5), (64, 32, 31), (3, 200, 7)])
def test_matches_the_papers_formula(ns, nt, d):
    gen = torch.Generator().manual_seed(ns * 100 + d)
    xs, xt = torch.randn(ns, d, generator=gen, dtype=torch.float64), 2 * torch.randn(nt, d, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(coral(xs, xt), reference(xs, xt), rtol=1e-12, atol=1e-15)


def test_gradients_are_the_formulas():
    gen = torch.Generator().manual_seed(0)
    xs = torch.randn(10, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    xt = torch.randn(14, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(coral, (xs, xt))
    ours = torch.autograd.grad(coral(xs, xt), (xs, xt))
    ref = torch.autograd.grad(reference(xs, xt), (xs, xt))
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)


def test_second_order_only_and_zero_on_equal_covariances():
    gen = torch.Generator().manual_seed(1)
    xs, xt = torch.randn(50, 6, generator=gen, dtype=torch.float64), torch.randn(40, 6, generator=gen, dtype=torch.float64)
    assert float(coral(xs, xs.clone())) == 0.0
    torch.testing.assert_close(coral(xs, xt), coral(xs + 3.0, xt - 7.0), rtol=1e-9, atol=0)  # means do not count
    assert float(coral(xs, 3 * xt)) > float(coral(xs, xt))  # scale does


def test_the_method_aligns_the_logits_and_refuses_kernel_weights(tmp_path):
    cfg = TrainConfig(method="coral")
    assert get_method("coral").build(cfg, SimpleNamespace(adapted=("fc6", "fc7", "fc8"))).layers == ("fc8",)
    with pytest.raises(ValueError, match="method coral has no kernel weights"):
        # the one rule of dan.config: a setting the method does not declare
        checked(TrainConfig(method="coral", fixed_betas="1,1,1,1,1"), load_source=False, load_target=False)


def test_dan_train_with_coral_logs_it_and_resumes_bit_for_bit(tmp_path):
    straight, resumed, a, b = straight_and_resumed(tmp_path, "coral")
    assert a["history"] == b["history"] and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert straight["final_coral"] == resumed["final_coral"] and straight["final_coral"]["fc8"] > 0
    assert "betas" not in straight and all("beta_fc8" not in row for row in a["history"])


def _ddp_worker(rank, world, rdv, out):
    import torch.distributed as dist

    from dan.methods.coral import CORAL

    dist.init_process_group("gloo", init_method=f"file://{rdv}", rank=rank, world_size=world)
    try:
        gen = torch.Generator().manual_seed(5)
        xs, xt = torch.randn(16, 5, generator=gen), torch.randn(16, 5, generator=gen) * 2
        part = slice(rank * 8, rank * 8 + 8)
        fs = xs[part].clone().requires_grad_(True)
        value = CORAL(["f"])({"f": fs}, {"f": xt[part]})
        value.backward()
        torch.save({"value": float(value.detach()), "grad": fs.grad}, f"{out}{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_under_ddp_every_rank_computes_the_global_batchs_coral(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "rdv"), str(tmp_path / "rank")), nprocs=2, join=True)
    gen = torch.Generator().manual_seed(5)
    xs, xt = torch.randn(16, 5, generator=gen), torch.randn(16, 5, generator=gen) * 2
    xs.requires_grad_(True)
    one = coral(xs, xt)
    one.backward()
    for rank in range(2):
        r = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert r["value"] == pytest.approx(float(one.detach()), rel=1e-5)
        # every rank's loss is the global CORAL, so the all-reduce's backward sums world (2) equal
        # upstream gradients: each rank's rows get 2 x their one-process gradient, and DDP's
        # average of the parameter gradients over the 2 ranks gives back one process's gradient
        torch.testing.assert_close(r["grad"] / 2, xs.grad[rank * 8:rank * 8 + 8], rtol=1e-4, atol=1e-6)


def test_a_large_shared_offset_costs_no_precision_in_float32():
    gen = torch.Generator().manual_seed(3)
    xs, xt = torch.randn(64, 8, generator=gen, dtype=torch.float64), 1.5 * torch.randn(64, 8, generator=gen, dtype=torch.float64)
    for offset in (0.0, 100.0, 1000.0):
        ours = coral((xs + offset).float(), (xt + offset).float())
        torch.testing.assert_close(ours.double(), reference(xs, xt), rtol=1e-4, atol=0)
