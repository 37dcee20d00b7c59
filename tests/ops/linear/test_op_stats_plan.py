"""The stats readers (mkmmd_linear_stats, jmmd_linear_stats) re-plan the buffer forward() filled for
the buffer's own device: on CUDA it also holds the kernels' workspace, and a CPU-sized plan made
split() refuse every CUDA buffer ('a buffer of 354 elements for a plan of 68'), so DAN training
on a GPU failed at its first step. No GPU here: the device-dependence is checked on plan_of, and
that both readers go through it."""
from types import SimpleNamespace

import torch

import dan_ext
from dan_ext.linear import backend as _backend
from dan_ext.joint import backend as _jmmd_backend


def test_plan_of_a_cuda_buffer_holds_the_workspace():
    cuda, cpu = SimpleNamespace(device=torch.device("cuda")), torch.empty(0)
    for n in (4, 64, 1001):
        assert _backend.plan_of(cuda, n, n, 5, True) == _backend.plan(n, n, 5, True, cuda=True)
        assert _backend.plan_of(cpu, n, n, 5, True) == _backend.plan(n, n, 5, True)
        assert _backend.plan(n, n, 5, True, cuda=True).total > _backend.plan(n, n, 5, True).total
        assert _jmmd_backend.plan_of(cuda, n, n, 2, 6) == _jmmd_backend.plan(n, n, 2, 6, cuda=True)
        assert _jmmd_backend.plan(n, n, 2, 6, cuda=True).total > _jmmd_backend.plan(n, n, 2, 6).total


def test_the_stats_readers_plan_for_the_buffers_device(monkeypatch):
    seen = []
    for module in (_backend, _jmmd_backend):
        real = module.plan_of

        def recording(buf, *sizes, _real=real):
            seen.append(buf.device.type)
            return _real(buf, *sizes)

        monkeypatch.setattr(module, "plan_of", recording)
    xs, xt = torch.randn(16, 3), torch.randn(16, 3)
    dan_ext.mkmmd_linear_stats(xs, xt, covariance=True)
    dan_ext.jmmd_linear_stats([xs, xs[:, :2]], [xt, xt[:, :2]])
    assert seen == ["cpu", "cpu"]
