"""DANLoss under DDP, with two real gloo processes: slices of different sizes are refused in one line
naming every rank's rows, and a training call made on one rank only ends, at the process group's
timeout, with a one-line error naming the contract (instead of gloo's own)."""
import datetime
import os
import time

import pytest
import torch

from dan.methods.dan_loss import DANLoss


def _features(n, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=gen, requires_grad=True), torch.randn(n, 5, generator=gen) + 0.5


def _leave(dist):
    dist.destroy_process_group()
    os._exit(0)  # no interpreter teardown: torch's atexit hooks can wait on the dead group


def _unequal_worker(rank, rdv, out, sizes):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{rdv}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=30))
    try:
        DANLoss(beta_every=1)(*_features(sizes[rank], rank))
        message = "accepted"
    except ValueError as err:
        message = str(err)
    with open(f"{out}{rank}", "w") as f:
        f.write(message)
    _leave(dist)


@pytest.mark.parametrize("sizes", [(8, 16), (8, 9)])
def test_unequal_slices_are_refused_on_every_rank_naming_both_sizes(tmp_path, sizes):
    import torch.multiprocessing as mp

    mp.spawn(_unequal_worker, args=(str(tmp_path / "rdv"), str(tmp_path / "msg"), sizes), nprocs=2, join=True)
    for rank in range(2):
        message = (tmp_path / f"msg{rank}").read_text()
        assert "every rank must pass an equal slice" in message and "\n" not in message
        assert f"rank 0 {sizes[0]} source / {sizes[0]} target" in message
        assert f"rank 1 {sizes[1]} source / {sizes[1]} target" in message


def _one_rank_worker(rank, rdv, out):
    import torch.distributed as dist

    from dan.distributed import CollectiveFailed

    dist.init_process_group("gloo", init_method=f"file://{rdv}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=3))
    if rank == 0:  # a training-mode call on this rank alone: the other never enters the collective
        start = time.monotonic()
        try:
            DANLoss(beta_every=1)(*_features(8, 0))
            message = "returned"
        except CollectiveFailed as err:
            message = str(err)
        with open(out, "w") as f:
            f.write(f"{time.monotonic() - start:.1f}\n{message}")
    else:
        time.sleep(8)  # outlives rank 0's timeout
    _leave(dist)


def test_a_training_call_on_one_rank_only_fails_naming_the_contract(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_one_rank_worker, args=(str(tmp_path / "rdv"), str(tmp_path / "msg")), nprocs=2, join=True)
    elapsed, message = (tmp_path / "msg").read_text().split("\n", 1)
    assert "every rank must call it for every step" in message and "torch.no_grad()" in message
    assert "\n" not in message
    assert float(elapsed) < 7  # the group's 3 s timeout, not a hang
