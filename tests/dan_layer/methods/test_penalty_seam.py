"""The seam between the trainer and a method (dan.methods.penalty): a method of one's own plugs in
with one registration and gets trained, logged, checkpointed and resumed like DAN; the trainer has
no word of DAN's internals; checkpoints from before the seam still resume bit for bit."""
from pathlib import Path

import pytest
import torch

import dan.trainer
from dan.runs.checkpoint import CHECKPOINT, load_checkpoint
from dan.config import TrainConfig
from dan.methods import METHODS, Method, Penalty
from dan.trainer import Trainer, train
from dan_helpers import free_port, toy_domains
from import_scan import imported_modules, imports_under


class MeanGap(Penalty):
    """A toy method: the squared distance between the source and target means of the penultimate
    layer, seen through a trainable projection (extra parameters in their own group, as a domain
    discriminator would be), with a counter as extra state."""

    def __init__(self, layer, width):
        super().__init__()
        self.layers = (layer,)
        self.project = torch.nn.Linear(width, 4)  # built for the layer's width: DDP takes no lazy modules
        self.calls, self._last = 0, 0.0

    def forward(self, source, target, progress):
        (layer,) = self.layers
        gap = (self.project(source[layer]).mean(0) - self.project(target[layer]).mean(0)).pow(2).sum()
        self.calls += 1
        self._last = float(gap.detach())
        return gap

    def step_log(self):
        return {"gap": self._last}

    def epoch_columns(self):
        return {"projection_norm": float(self.project.weight.detach().norm())}

    def result_columns(self, last_row):
        return {"calls": self.calls, "final_gap": last_row["gap"]}

    def param_groups(self, lr):
        return [{"params": list(self.project.parameters()), "lr_mult": 10.0}]

    def get_extra_state(self):
        return {"calls": self.calls}

    def set_extra_state(self, state):
        self.calls = state["calls"]


def _no_fixed_betas(cfg):
    if cfg.fixed_betas is not None:
        raise ValueError("--fixed-betas: method mean_gap has no kernel weights")


@pytest.fixture
def mean_gap(monkeypatch):
    # the one registration line a new method needs (methods/__init__.py)
    monkeypatch.setitem(METHODS, "mean_gap", Method("mean_gap", "toy: projected mean gap",
                                                    lambda cfg, network: MeanGap(network.adapted[-2], network.width(network.adapted[-2])),
                                                    _no_fixed_betas))


def _cfg(out, **kw):
    base = dict(source="toy", target="toy", method="mean_gap", epochs=2, batch_size=32, iters_per_epoch=3,
                out=str(out))
    base.update(kw)
    return TrainConfig(**base)


def test_a_registered_method_trains_logs_and_checkpoints(tmp_path, mean_gap):
    src, tgt = toy_domains()
    tr = Trainer(_cfg(tmp_path), src, tgt, progress=False)
    before = tr.penalty.project.weight.detach().clone()
    last = tr.opt.param_groups[-1]  # digits_cnn's own group (all new layers), then the method's
    assert len(tr.opt.param_groups) == 2 and last["params"][0] is tr.penalty.project.weight
    result = tr.fit()
    assert not torch.equal(before, tr.penalty.project.weight)  # its own group was trained
    row = tr.history[-1]
    assert row["gap"] >= 0 and row["projection_norm"] > 0 and "beta_fc7" not in row
    assert result["calls"] == tr.penalty.calls == 2 * 3 and result["final_gap"] == row["gap"]
    ck = load_checkpoint(tmp_path / CHECKPOINT)
    assert ck["penalty"]["_extra_state"] == {"calls": 6} and "project.weight" in ck["penalty"]


def test_a_registered_method_resumes_bit_for_bit(tmp_path, mean_gap):
    src, tgt = toy_domains()
    train(_cfg(tmp_path / "a", epochs=3), progress=False, source=src, target=tgt)
    train(_cfg(tmp_path / "b", epochs=3), progress=False, source=src, target=tgt, stop_after_epoch=1)
    train(_cfg(tmp_path / "b", epochs=3), resume=True, progress=False, source=src, target=tgt)
    a, b = load_checkpoint(tmp_path / "a" / CHECKPOINT), load_checkpoint(tmp_path / "b" / CHECKPOINT)
    assert a["history"] == b["history"]
    for part in ("model", "penalty"):
        for k in a[part]:
            assert (torch.equal(a[part][k], b[part][k]) if torch.is_tensor(a[part][k]) else a[part][k] == b[part][k]), k


def test_a_methods_own_settings_check_runs_before_any_work(tmp_path, mean_gap):
    src, tgt = toy_domains()
    with pytest.raises(ValueError, match="method mean_gap has no kernel weights"):
        Trainer(_cfg(tmp_path, fixed_betas="1,1"), src, tgt, progress=False)
    assert not (tmp_path / CHECKPOINT).exists()


def test_the_trainer_imports_no_method_internals():
    """Beta, kernels and bandwidths belong to DAN's penalty (methods/dan_loss.py), not the trainer:
    it reaches a method only through dan.methods' registry and the Penalty seam."""
    path = Path(dan.trainer.__file__)
    names = imported_modules(path, "dan")
    internals = set().union(*(imports_under(names, m) for m in (
        "dan_ext", "dan.methods.dan_loss", "dan.methods.beta_solver", "dan.methods.mkmmd", "dan.methods.jan",
        "dan.methods.coral", "dan.methods.dann")))
    assert not internals, f"dan.trainer imports {sorted(internals)}"


def test_checkpoints_from_before_the_seam_resume_bit_for_bit(tmp_path):
    """Checkpoints written before methods were plug-ins kept DAN's beta solvers as ck["solvers"]."""
    src, tgt = toy_domains()
    cfg = dict(source="toy", target="toy", method="dan", epochs=3, batch_size=32, beta_every=2)
    train(TrainConfig(**cfg, out=str(tmp_path / "a")), progress=False, source=src, target=tgt)
    b = tmp_path / "b"
    train(TrainConfig(**cfg, out=str(b)), progress=False, source=src, target=tgt, stop_after_epoch=1)
    ck = torch.load(b / CHECKPOINT, weights_only=True)
    ck["solvers"] = ck.pop("penalty")["_extra_state"]["solvers"]  # the old layout, exactly
    torch.save(ck, b / CHECKPOINT)
    train(TrainConfig(**cfg, out=str(b)), resume=True, progress=False, source=src, target=tgt)
    x, y = load_checkpoint(tmp_path / "a" / CHECKPOINT), load_checkpoint(b / CHECKPOINT)
    assert x["history"] == y["history"] and all(torch.equal(x["model"][k], y["model"][k]) for k in x["model"])
    sx, sy = x["penalty"]["_extra_state"]["solvers"], y["penalty"]["_extra_state"]["solvers"]
    assert all(torch.equal(sx[k]["betas"], sy[k]["betas"]) for k in sx)


def test_a_method_naming_a_layer_the_network_lacks_is_refused_when_built(tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS, "wrong", Method("wrong", "asks for fc9", lambda cfg, net: MeanGap("fc9", 4),
                                                 _no_fixed_betas))
    src, tgt = toy_domains()
    with pytest.raises(ValueError, match="method wrong asks for layer\\(s\\) fc9, but the digits_cnn network adapts "
                                         "fc6, fc7, fc8"):
        Trainer(_cfg(tmp_path, method="wrong"), src, tgt, progress=False)


def _ddp_worker(rank, world, port, out, src, tgt):
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    torch.set_num_threads(1)
    METHODS["mean_gap"] = Method("mean_gap", "toy", lambda cfg, net: MeanGap("fc7", net.width("fc7")), _no_fixed_betas)
    out.mkdir(parents=True, exist_ok=True)
    tr = Trainer(_cfg(out, epochs=1), src, tgt, progress=False)
    assert isinstance(tr.penalty_net, torch.nn.parallel.DistributedDataParallel)
    tr.fit()
    torch.save(tr.penalty.project.weight.detach().clone(), out.parent / f"projection{rank}.pt")
    del tr  # the DDP wrappers go before their process group: freed after it, a rank aborted at exit (once in CI)
    torch.distributed.destroy_process_group()


def test_a_registered_method_runs_under_two_ranks_with_one_set_of_parameters(tmp_path):
    import torch.multiprocessing as mp

    src, tgt = toy_domains(n=128)
    mp.spawn(_ddp_worker, args=(2, free_port(), tmp_path / "ddp", src, tgt), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"projection{r}.pt", weights_only=True) for r in range(2))
    assert torch.equal(a, b)  # DDP averaged the method's own gradients
