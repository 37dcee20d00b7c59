"""The seam between the trainer and a method: what a method adds to the source cross-entropy.

The trainer runs the network on a source and a target batch, computes the source cross-entropy
and adds lambda * penalty; everything else that makes DAN, DDC, Deep CORAL or DANN is the
method's ``Penalty``. The trainer calls only what is below and knows nothing of kernels, beta or
discriminators:

    penalty = method.build(cfg, network)            # once, before the optimiser is made; the
                                                     # network's .adapted names and .width(name)
    groups += penalty.param_groups(lr)               # extra trainable parts (a discriminator)
    ... every step:
        value = penalty(source_features, target_features, progress)   # dicts {layer: features}
        loss = ce + lam * value; backward; optimiser step
        penalty.after_step(step)                     # e.g. DAN re-solves beta every K steps
        log += penalty.step_log()                    # numbers averaged over the epoch's steps
    ... every epoch: penalty.start_epoch() before it, penalty.epoch_columns() into its log row
    ... at the end: penalty.result_columns(last_row) into result.json
    ... checkpoints: penalty.state_dict() / load_state_dict() (parameters, buffers and
        get_extra_state(): plain data only, checkpoints load with weights_only=True)

A penalty is an ``nn.Module``: ``.to(device)`` moves its parts, and under torchrun the trainer
wraps one that has trainable parameters in DistributedDataParallel. That asks two things of its
parameters: they exist when ``build`` returns (no lazy modules: build them for
``network.width(layer)``), and each gets a gradient on every step (DDP's default). Reductions over
ranks that its statistics need (DAN's bandwidths, d and Q) happen inside ``forward``
(``distributed.process_group()``), so a penalty computes under torchrun what one process computes
on the same global batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Tuple

import torch
from torch import nn

from dan.methods.settings import Setting



class Penalty(nn.Module):
    """A method's addition to the source cross-entropy. The defaults describe "nothing": no
    features needed, a zero penalty, no state, no columns."""

    #: names of the network's adapted layers whose features ``forward`` takes, in order
    layers: Tuple[str, ...] = ()
    #: whether the penalty applies lambda's ramp itself. When not (the default), the trainer weighs
    #: it by lambda with its ramp (``--lam``, ``--lam-ramp``); when it does, the trainer weighs it by
    #: ``--lam`` alone and the penalty ramps where it belongs (DANN: on the reversed gradient)
    ramps_itself: bool = False

    def __init__(self):
        super().__init__()
        # a zero on the penalty's device for penalties that see no features (source only)
        self.register_buffer("_zero", torch.zeros(()), persistent=False)
        self._log: Dict[str, float] = {}  # what forward() measured, for step_log()

    def forward(self, source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor],
                progress: float) -> torch.Tensor:
        """The penalty on this rank's source and target features of ``self.layers`` (a float32
        scalar the trainer multiplies by lambda); ``progress`` is the training progress in [0, 1]."""
        return self._zero.clone()

    def step_log(self) -> Dict[str, float]:
        """Numbers of the last ``forward`` (the same on every rank) for the epoch log, which keeps
        their mean over the epoch's steps: by default what forward() put in ``self._log``."""
        return dict(self._log)

    def after_step(self, step: int) -> None:
        """Called after optimiser step number ``step`` (1-based over the whole run)."""

    def start_epoch(self) -> None:
        """Called before each epoch's first step."""

    def epoch_columns(self) -> Dict[str, object]:
        """Columns for the epoch's log row (plain JSON values)."""
        return {}

    def result_columns(self, last_row: Mapping[str, object]) -> Dict[str, object]:
        """Entries for result.json, given the last epoch's log row."""
        return {}

    def param_groups(self, lr: float) -> List[dict]:
        """Extra parameter groups for the optimiser, each with an ``lr_mult`` (the trainer anneals
        ``lr * lr_mult``); none by default."""
        return []


def no_check(cfg) -> None:
    """The check of a method whose only settings are its declared ones (checked by dan.config)."""


def no_kernel_weights(method: str):
    """The settings check of a method that has no MK-MMD kernels: --fixed-betas is refused. Kept
    for methods written before methods declared their settings: the one rule of dan.config
    (methods/settings.py, check_declared) now refuses every setting a method does not declare."""
    def check(cfg) -> None:
        if cfg.fixed_betas is not None:
            raise ValueError(f"--fixed-betas: method {method} has no kernel weights (they belong to the MK-MMD "
                             "methods)")
    return check


@dataclass(frozen=True)
class Method:
    """A name the trainer accepts for --method: how to build its penalty, the settings it declares
    (methods/settings.py: each becomes a TrainConfig field and a CLI flag; the others must stay at
    their defaults) and how to check them together (one-line ValueError naming the flag, before any
    work starts; each declared setting's type and range is checked before ``check`` runs)."""
    name: str
    description: str
    build: Callable[..., Penalty]     # build(cfg, network) -> Penalty (network.adapted, network.width(name))
    check: Callable[..., None] = no_check   # check(cfg) -> None
    settings: Tuple[Setting, ...] = ()
