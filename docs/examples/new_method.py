"""A new method in one file: a Penalty, its Method, one registration, and dan's trainer does the rest
(optimiser groups, the epoch log, checkpoints, --resume, torchrun).

The method, "mean_gap", penalises the squared distance between the source and target means of the
penultimate adapted layer seen through a trainable projection (its own optimiser group at 10x the
learning rate, as a domain discriminator would be). In the library a method lives in
python/dan/methods/ and is one line in METHODS there; here it is registered at run time.
``--small`` trains 1 epoch of 3 steps (CI); without it, 20 epochs.

    python docs/examples/new_method.py [--small] [--out runs/example_mean_gap]
"""
import argparse

import torch

from dan.config import TrainConfig
from dan.methods import METHODS, Method, Penalty
from dan.trainer import train


class MeanGap(Penalty):
    """The projected mean gap of one layer; counts its calls as extra (checkpointed) state."""

    def __init__(self, layer: str, width: int):
        super().__init__()
        self.layers = (layer,)
        self.project = torch.nn.Linear(width, 8)  # built for the layer's width: DDP takes no lazy modules
        self.calls, self._last = 0, 0.0

    def forward(self, source, target, progress):
        (layer,) = self.layers
        gap = (self.project(source[layer]).mean(0) - self.project(target[layer]).mean(0)).pow(2).sum()
        self.calls += 1
        self._last = float(gap.detach())
        return gap

    def step_log(self):
        return {"gap": self._last}  # averaged over the epoch into log.json / log.csv

    def result_columns(self, last_row):
        return {"calls": self.calls, "final_gap": last_row["gap"]}  # into result.json

    def param_groups(self, lr):
        return [{"params": list(self.project.parameters()), "lr_mult": 10.0}]

    def get_extra_state(self):
        return {"calls": self.calls}  # plain data: checkpoints load with weights_only=True

    def set_extra_state(self, state):
        self.calls = state["calls"]


def build(cfg, network) -> MeanGap:
    layer = network.adapted[-2]  # the penultimate adapted layer (fc7 on digits_cnn, the bottleneck otherwise)
    return MeanGap(layer, network.width(layer))


METHOD = Method("mean_gap", "projected mean gap of the penultimate layer (an example)", build)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="1 epoch of 3 steps (a smoke test)")
    ap.add_argument("--out", default="runs/example_mean_gap", help="the run folder (replaced if it holds a run)")
    args = ap.parse_args(argv)
    METHODS["mean_gap"] = METHOD  # the one registration line (python/dan/methods/__init__.py)
    size = dict(epochs=1, iters_per_epoch=3) if args.small else dict(epochs=20)
    cfg = TrainConfig(source="printed", target="digits", method="mean_gap", out=args.out, **size)
    result = train(cfg, overwrite=True, progress=not args.small)
    print(f"mean_gap printed -> digits: target accuracy {result['target_accuracy']:.3f}, "
          f"{result['calls']} penalty calls, final gap {result['final_gap']:.4f}")
    return result


if __name__ == "__main__":
    main()
