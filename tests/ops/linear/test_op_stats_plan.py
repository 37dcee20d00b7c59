"""The stats readers (mkmmd_linear_stats, jmmd_linear_stats) cut the buffer forward() filled by the
plan forward() filled it by. On CUDA the buffer also holds the kernels' workspace: readers that
re-planned it for the CPU made split() refuse every CUDA buffer ('a buffer of 354 elements for a
plan of 68'), so DAN training on a GPU failed at its first step. No GPU here: the plans differ by
device, and both readers are checked to take the forward's own plan, never one of their own."""
import torch

import dan_ext
from dan_ext.linear import backend as _backend
from dan_ext.joint import backend as _jmmd_backend


def test_a_cuda_buffer_holds_the_workspace():
    for n in (4, 64, 1001):
        assert _backend.plan(n, n, 5, True, cuda=True).total > _backend.plan(n, n, 5, True).total
        assert _jmmd_backend.plan(n, n, 2, 6, cuda=True).total > _jmmd_backend.plan(n, n, 2, 6).total


def test_the_stats_readers_cut_the_buffer_by_the_forwards_plan(monkeypatch):
    made, used, replanned, inside = [], [], [], []
    for module in (_backend, _jmmd_backend):
        real_forward, real_split, real_plan = module.forward, module.split, module.plan

        def forward(*args, _real=real_forward, **kw):
            inside.append(True)
            try:
                loss, buf, plan = _real(*args, **kw)
            finally:
                inside.pop()
            made.append(plan)
            return loss, buf, plan

        def split(buf, plan, _real=real_split):
            used.append(plan)
            return _real(buf, plan)

        def plan(*args, _real=real_plan, **kw):
            if not inside:  # a plan made outside forward() would not know the buffer's workspace
                replanned.append(args)
            return _real(*args, **kw)

        monkeypatch.setattr(module, "forward", forward)
        monkeypatch.setattr(module, "split", split)
        monkeypatch.setattr(module, "plan", plan)
    xs, xt = torch.randn(16, 3), torch.randn(16, 3)
    dan_ext.mkmmd_linear_stats(xs, xt, covariance=True)
    dan_ext.jmmd_linear_stats([xs, xs[:, :2]], [xt, xt[:, :2]])
    assert len(made) == 2 and used == made and not replanned
