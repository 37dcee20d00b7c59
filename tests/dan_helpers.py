"""Small synthetic domains for fast DAN-layer tests (the real ones are exercised by the CLI test)."""
import torch

from dan.data import Domain


def toy_domains(n=96, seed=0, shift=0.3):
    """Two 10-class 8x8 domains: class templates plus noise; the target is shifted and rescaled."""
    gen = torch.Generator().manual_seed(seed)
    templates = torch.rand(10, 1, 8, 8, generator=gen)
    def make(k, s, scale):
        y = torch.arange(k) % 10
        x = templates[y] * scale + s + 0.15 * torch.randn(k, 1, 8, 8, generator=gen)
        return Domain("toy", x.clamp(0, 1.5), y, [str(i) for i in range(10)])
    return make(n, 0.0, 1.0), make(n, shift, 0.7)


def straight_and_resumed(tmp_path, method: str, **settings):
    """A toy run of ``method`` (3 epochs of 3 steps; other TrainConfig ``settings`` as given) trained
    straight into TMP/a, and the same run stopped after epoch 1 and resumed into TMP/b: (straight
    result, resumed result, checkpoint a, checkpoint b), for the tests that resume must change nothing."""
    from dan.runs.checkpoint import CHECKPOINT, load_checkpoint
    from dan.config import TrainConfig
    from dan.trainer import train

    src, tgt = toy_domains()
    base = dict(source="toy", target="toy", method=method, epochs=3, batch_size=32, iters_per_epoch=3, **settings)
    straight = train(TrainConfig(**base, out=str(tmp_path / "a")), progress=False, source=src, target=tgt)
    train(TrainConfig(**base, out=str(tmp_path / "b")), progress=False, source=src, target=tgt, stop_after_epoch=1)
    resumed = train(TrainConfig(**base, out=str(tmp_path / "b")), resume=True, progress=False, source=src, target=tgt)
    return straight, resumed, load_checkpoint(tmp_path / "a" / CHECKPOINT), load_checkpoint(tmp_path / "b" / CHECKPOINT)


def free_port() -> int:
    """A TCP port nobody listens on now, for a two-rank gloo rendezvous."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_step(trainer, idx_s, idx_t):
    """One step of ``trainer`` on in-memory domains from given global index batches (this rank takes
    its slice), augmentation seeds drawn from the trainer's sampler as an epoch would: for tests
    that pick the rows of a step themselves."""
    from dan.data import epoch_plan

    seeds = epoch_plan.needs_seeds(trainer.source, trainer.target)
    drawn = torch.randint(0, epoch_plan._SEED_HIGH, (1, 2, len(idx_s)), generator=trainer.sampler)[0] if seeds else None
    plan = [epoch_plan.Step(torch.as_tensor(idx_s), torch.as_tensor(idx_t), drawn)]
    (b,) = epoch_plan.epoch(trainer.source, trainer.target, plan, trainer.info.rank, trainer.info.world)
    return trainer.step_on(b.xs, b.ys, b.xt)
