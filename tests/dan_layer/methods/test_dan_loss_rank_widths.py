"""DANLoss under DDP averages every rank's bandwidth centre, d and Q: that is the global batch's only
when every rank passes the same layer. Ranks whose features had different widths (4 and 7 columns)
were averaged silently and trained on; they are refused on every rank in one line naming each
rank's width, checked in the all-reduce the bandwidths already make. Two real gloo processes."""
import datetime
import os

import torch

from dan.methods.dan_loss import DANLoss


def _worker(rank, rdv, out, widths):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{rdv}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=30))
    gen = torch.Generator().manual_seed(rank)
    d = widths[rank]
    try:
        DANLoss(beta_every=1)(torch.randn(8, d, generator=gen, requires_grad=True), torch.randn(8, d, generator=gen))
        message = "accepted"
    except ValueError as err:
        message = str(err)
    with open(f"{out}{rank}", "w") as f:
        f.write(message)
    dist.destroy_process_group()
    os._exit(0)  # no interpreter teardown: torch's atexit hooks can wait on the dead group


def _run(tmp_path, widths):
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(str(tmp_path / "rdv"), str(tmp_path / "msg"), widths), nprocs=2, join=True)
    return [(tmp_path / f"msg{rank}").read_text() for rank in range(2)]


def test_ranks_with_different_feature_widths_are_refused_on_every_rank(tmp_path):
    for message in _run(tmp_path, (4, 7)):
        assert message == ("DANLoss under DDP: every rank must pass the same layers (features of the same width), "
                           "got feature widths rank 0 4, rank 1 7")


def test_ranks_with_the_same_width_still_train(tmp_path):
    assert _run(tmp_path, (6, 6)) == ["accepted", "accepted"]
