"""dan.DANLoss, DAN's penalty for a user's own training loop: what it computes, its beta schedule,
its state, its errors, and the same numbers under DDP (two real gloo processes) as in one process."""
import io
import math

import pytest
import torch

import dan_ext
from dan import DANLoss

from conftest import make_pair


def _layers(n=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [make_pair(n, n, d, gen=gen) for d in (6, 3)]


def test_it_is_the_sum_of_the_ops_mkmmd_over_layers():
    pairs = _layers()
    loss = DANLoss(layers=2, betas="uniform")([s for s, _ in pairs], [t for _, t in pairs])
    expect = sum(dan_ext.mkmmd_linear(s, t).float() for s, t in pairs)
    assert loss.dtype == torch.float32 and torch.equal(loss, expect)
    named = DANLoss(layers=["fc7", "fc8"], betas="uniform")({"fc7": pairs[0][0], "fc8": pairs[1][0], "x": None},
                                                            {"fc7": pairs[0][1], "fc8": pairs[1][1]})
    assert torch.equal(named, expect)
    one = DANLoss(betas="uniform")(*pairs[0])  # one layer: plain tensors
    assert torch.equal(one, dan_ext.mkmmd_linear(*pairs[0]).float())


def test_gradients_reach_the_features():
    (s, t), _ = _layers()
    s.requires_grad_(True)
    DANLoss(betas="uniform")(s, t).backward()
    assert s.grad is not None and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


def test_learned_betas_are_solved_every_beta_every_steps_and_traced():
    loss_fn = DANLoss(layers=2, beta_every=3)
    assert loss_fn.betas["0"] == [0.2] * 5
    for k in range(1, 7):
        pairs = _layers(seed=k)
        loss_fn([s for s, _ in pairs], [t for _, t in pairs])
        loss_fn.step()
        solved = k >= 3
        assert (loss_fn.solvers["0"].last_status != "uniform (not solved yet)") == solved
    assert [row[0] for row in loss_fn.trace["1"]] == [3, 6] and loss_fn.steps == 6
    for layer, betas in loss_fn.betas.items():
        assert math.isclose(sum(betas), 1.0, abs_tol=1e-9) and min(betas) >= 0
    assert loss_fn.betas != {"0": [0.2] * 5, "1": [0.2] * 5}  # the QP moved them


def test_uniform_and_fixed_betas_never_change():
    pairs = _layers()
    fixed = DANLoss(betas=[1, 0, 0, 0, 3], beta_every=1)
    uniform = DANLoss(betas="uniform", beta_every=1)
    for fn in (fixed, uniform):
        for _ in range(3):
            fn(*pairs[0])
            fn.step()
    assert fixed.betas["0"] == [0.25, 0, 0, 0, 0.75] and uniform.betas["0"] == [0.2] * 5
    bw = dan_ext.default_bandwidths(dan_ext.mean_pair_sqdist(*pairs[0]), 5, 2.0)
    expect = dan_ext.mkmmd_linear(*pairs[0], bandwidths=bw, betas=[0.25, 0, 0, 0, 0.75]).float()
    assert torch.allclose(fixed(*pairs[0]), expect, rtol=1e-6)


def test_state_round_trips_through_a_safe_load():
    a = DANLoss(layers=["bottleneck", "logits"], beta_every=2)
    for k in range(3):  # one solve and one accumulated step pending
        pairs = _layers(seed=k)
        a({"bottleneck": pairs[0][0], "logits": pairs[1][0]}, {"bottleneck": pairs[0][1], "logits": pairs[1][1]})
        a.step()
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = DANLoss(layers=["bottleneck", "logits"], beta_every=2)
    b.load_state_dict(torch.load(buf, weights_only=True))
    assert b.betas == a.betas and b.steps == 3
    pairs = _layers(seed=9)
    for fn in (a, b):  # the pending statistics came along: the next solve is the same
        fn({"bottleneck": pairs[0][0], "logits": pairs[1][0]}, {"bottleneck": pairs[0][1], "logits": pairs[1][1]})
        fn.step()
    assert b.betas == a.betas and b.betas != DANLoss(layers=["bottleneck", "logits"]).betas
    with pytest.raises(ValueError, match="is for layers"):
        DANLoss(layers=["fc6"]).load_state_dict(a.state_dict())


@pytest.mark.parametrize("kwargs, needle", [
    ({"layers": "fc7"}, "layers must be a number or a list of layer names"),
    ({"layers": ["a", "a"]}, "layers must be distinct names"),
    ({"betas": "learnt"}, "betas must be 'learned', 'uniform' or 5 weights"),
    ({"betas": [1, 2]}, "betas must be 5 finite non-negative numbers"),
    ({"betas": [0] * 5}, "not all zero"),
    ({"beta_every": 0}, "beta_every must be an integer >= 1"),
    ({"beta_eps": float("nan")}, "beta_eps must be a finite number > 0"),
    ({"kernel_num": 0}, "kernel_num"),
])
def test_bad_arguments_are_one_line_errors(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        DANLoss(**kwargs)


def test_features_that_do_not_match_the_layers_are_named():
    pairs = _layers()
    with pytest.raises(ValueError, match="lack layer"):
        DANLoss(layers=["fc7", "fc8"])({"fc7": pairs[0][0]}, {"fc7": pairs[0][1]})
    with pytest.raises(ValueError, match="expected features of 2 layer"):
        DANLoss(layers=2)(pairs[0][0], pairs[0][1])


def _ddp_worker(rank, world, rdv, out, n, settings=None):
    """One rank of a two-rank DANLoss(layers=2, beta_every=2, **settings) over 4 batches of n rows
    (this rank's slice of each): writes the mean of the ranks' losses and the betas to OUT{rank}.pt."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{rdv}", rank=rank, world_size=world)
    try:
        fn, losses = DANLoss(layers=2, beta_every=2, **(settings or {})), []
        for k in range(4):
            pairs = _layers(n, seed=k)
            part = slice(rank * n // world, (rank + 1) * n // world)  # this rank's slice of the batch
            loss = fn([s[part] for s, _ in pairs], [t[part] for _, t in pairs])
            total = loss.detach().double().clone()
            dist.all_reduce(total)
            losses.append(float(total) / world)
            fn.step()
        torch.save({"losses": losses, "betas": fn.betas}, f"{out}{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_under_ddp_the_ranks_compute_what_one_process_computes(tmp_path):
    """Bandwidths from the global batch's mean distance, d and Q averaged over ranks: the mean of
    the ranks' penalties is the one-process penalty of the whole batch, and beta is the same."""
    assert_two_ranks_equal_one_process(tmp_path)


def assert_two_ranks_equal_one_process(tmp_path, settings=None, n=32):
    """Two gloo ranks of DANLoss(layers=2, beta_every=2, **settings), each on its half of 4 batches of
    n rows, against one process on the whole batches: equal mean loss and equal betas."""
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "rdv"), str(tmp_path / "rank"), n, settings), nprocs=2, join=True)
    one, losses = DANLoss(layers=2, beta_every=2, **(settings or {})), []
    for k in range(4):
        pairs = _layers(n, seed=k)
        losses.append(float(one([s for s, _ in pairs], [t for _, t in pairs])))
        one.step()
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert ranks[0]["betas"] == ranks[1]["betas"]
    for r in ranks:
        assert r["losses"] == pytest.approx(losses, rel=1e-5)
        for layer in one.betas:
            assert r["betas"][layer] == pytest.approx(one.betas[layer], abs=1e-6)


def test_a_state_of_other_settings_is_refused():
    learned = DANLoss(beta_every=1)
    pairs = _layers()
    learned(*pairs[0])
    learned.step()
    for other, needle in ((DANLoss(betas="uniform"), "betas 'learned' \\(this one: 'uniform'\\)"),
                          (DANLoss(betas=[1, 0, 0, 0, 0]), "betas 'learned' \\(this one: 'fixed'\\)"),
                          (DANLoss(kernel_mul=3.0), "kernel_mul 2.0 \\(this one: 3.0\\)")):
        before = other.betas
        with pytest.raises(ValueError, match=needle):
            other.load_state_dict(learned.state_dict())
        assert other.betas == before  # refused before anything was replaced


def test_numpy_and_tensor_weights_fix_the_betas():
    import numpy as np

    for w in (np.array([1.0, 0, 0, 0, 1]), torch.tensor([1.0, 0, 0, 0, 1]), (1, 0, 0, 0, 1)):
        fn = DANLoss(betas=w)
        assert fn.mode == "fixed" and not fn.learn and fn.betas["0"] == [0.5, 0, 0, 0, 0.5]


def test_evaluation_calls_are_not_training_steps():
    fn = DANLoss(beta_every=1)
    pairs = _layers()
    with torch.no_grad():
        fn(*pairs[0])  # a validation pass without .eval()
    fn.eval()
    fn(*pairs[0])
    fn.step()  # nothing accumulated: no solve, nothing traced
    assert fn.solvers["0"].solves + fn.solvers["0"].fallbacks == 0 and fn.trace["0"] == []
    fn.train()
    fn(*pairs[0])
    fn.step()
    assert fn.solvers["0"].solves + fn.solvers["0"].fallbacks == 1 and len(fn.trace["0"]) == 1


def _eval_on_rank0_worker(rank, world, rdv, out):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{rdv}", rank=rank, world_size=world,
                            timeout=__import__("datetime").timedelta(seconds=20))
    try:
        if rank == 0:  # a validation pass on rank 0 alone must not wait for the other rank
            fn = DANLoss(layers=2).eval()
            pairs = _layers(seed=3)
            value = fn([s for s, _ in pairs], [t for _, t in pairs])
            torch.save(float(value), out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_evaluation_on_one_rank_needs_no_collective(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_eval_on_rank0_worker, args=(2, str(tmp_path / "rdv"), str(tmp_path / "value.pt")), nprocs=2, join=True)
    pairs = _layers(seed=3)
    assert torch.load(tmp_path / "value.pt") == float(DANLoss(layers=2)([s for s, _ in pairs], [t for _, t in pairs]))
