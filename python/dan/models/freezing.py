"""Fine-tuning as the transfer-learning material teaches it: the pretrained body as a frozen
feature extractor under new layers (``--freeze body``), the body frozen up to a stage (``--freeze
STAGE``), and gradual unfreezing from the top (``--unfreeze-every N``, as ULMFiT does). Stages are
each backbone's spec (backbones.py, ``Backbone.stages``), ordered from input to output.

What "frozen" means here:
- Its parameters have ``requires_grad`` False, so no gradient reaches them and SGD skips them
  (torch's SGD only touches parameters with a gradient): no weight decay and no momentum moves them.
  They stay in the optimizer's parameter groups, which are built before any freezing, so the groups
  (and a checkpoint's optimizer state) are the same at every epoch; a stage unfrozen later starts
  with no momentum.
- Its BatchNorm layers are in eval mode: they normalise with the running statistics they came with
  and do not update them. In train mode a "frozen" stage would still change: its running
  statistics would drift to the new data (so the features at evaluation would not be the
  pretrained ones), and each batch's own mean and variance (here source and target together)
  would change what the stage outputs from batch to batch. Eval mode is what a fixed feature
  extractor is, and the usual choice (Keras' fine-tuning guide, detectron's FrozenBatchNorm).

The frozen stages at an epoch are a pure function of (epoch, --freeze, --unfreeze-every): a resumed
run freezes exactly what the run straight through froze at that epoch.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from dan.models.backbones import Backbone, either

BODY = "body"  # --freeze body: every stage of the body, so only the new layers train


def check_freezing(spec: Backbone, freeze: Optional[str], unfreeze_every: Optional[int]) -> None:
    """--freeze names a stage of ``spec`` or body; --unfreeze-every is an integer >= 1. One-line ValueError."""
    names = [s.name for s in spec.stages]
    if freeze is not None:
        if not names:
            raise ValueError(f"--freeze: the {spec.name} backbone names no stages (its spec's stages), so nothing of "
                             "it can be frozen")
        if not isinstance(freeze, str) or freeze not in (*names, BODY):
            raise ValueError(f"--freeze must be {BODY} (the whole body) or a stage of the {spec.name} backbone, from "
                             f"input to output: {either(names)}; got {freeze!r}")
    if unfreeze_every is not None:
        if isinstance(unfreeze_every, bool) or not isinstance(unfreeze_every, int) or unfreeze_every < 1:
            raise ValueError(f"--unfreeze-every must be an integer >= 1 (epochs between unfreezing one more stage "
                             f"from the top), got {unfreeze_every!r}")
        if not names:
            raise ValueError(f"--unfreeze-every: the {spec.name} backbone names no stages (its spec's stages) to "
                             "unfreeze")


def frozen_stages(spec: Backbone, freeze: Optional[str], unfreeze_every: Optional[int], epoch: int
                  ) -> Tuple[str, ...]:
    """The stages frozen while epoch ``epoch`` (0 = the first) trains: those from the input up to
    --freeze (default with --unfreeze-every: the whole body), less one from the top per
    --unfreeze-every epochs done."""
    names = tuple(s.name for s in spec.stages)
    if freeze is None and unfreeze_every is None:
        return ()
    top = len(names) if freeze in (None, BODY) else names.index(freeze) + 1
    if unfreeze_every is not None:
        top = max(0, top - epoch // unfreeze_every)
    return names[:top]


def _in(name: str, modules: Tuple[str, ...]) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def check_stages(spec: Backbone, model: nn.Module) -> None:
    """The spec's stages name modules of the network built from it, and hold every parameter of its
    body (otherwise --freeze body would leave some of it training); AssertionError otherwise."""
    if not spec.stages:
        return
    modules = dict(model.named_modules())
    for stage in spec.stages:
        for m in stage.modules:
            if m not in modules:
                raise AssertionError(f"the {spec.name} spec's stage {stage.name} names {m}, which its network lacks")
    every = tuple(m for s in spec.stages for m in s.modules)
    loose = [n for n, _ in model.named_parameters() if n.startswith("backbone.") and not _in(n, every)]
    if loose:
        raise AssertionError(f"the {spec.name} spec's stages leave {len(loose)} body parameter(s) out, e.g. {loose[0]}")


class Freezer:
    """Freezes a DANNet's stages. Made right after the network is built: what its builder left
    trainable then is what unfreezing gives back (AlexNet's conv1-conv3 never train)."""

    def __init__(self, model: nn.Module, spec: Backbone):
        self.model, self.spec = model, spec
        self.trainable: Dict[str, bool] = {n: p.requires_grad for n, p in model.named_parameters()}
        self.frozen: Tuple[str, ...] = ()

    def modules(self, stages: Tuple[str, ...]) -> Tuple[str, ...]:
        return tuple(m for s in self.spec.stages if s.name in stages for m in s.modules)

    def set(self, stages: Tuple[str, ...], model: Optional[nn.Module] = None) -> bool:
        """Freeze exactly ``stages`` (the rest back to what the builder made them); True if that
        changed anything. ``model``: the network as it is now (SyncBatchNorm-converted, same names)."""
        if stages == self.frozen:
            return False
        model = self.model if model is None else model
        self.model, self.frozen = model, stages
        modules = self.modules(stages)
        for n, p in model.named_parameters():
            p.requires_grad_(self.trainable[n] and not _in(n, modules))
        model.frozen_modules = modules  # DANNet.train keeps their BatchNorm layers in eval mode
        model.train(model.training)
        return True


def keep_frozen_norms_in_eval(model: nn.Module) -> None:
    """Put the BatchNorm layers of the frozen modules (``model.frozen_modules``) in eval mode: what
    DANNet.train does after nn.Module.train, so evaluation's train(True) does not undo it."""
    frozen = getattr(model, "frozen_modules", ())
    if not frozen:
        return
    for name, m in model.named_modules():
        if isinstance(m, _BatchNorm) and _in(name, frozen):
            m.eval()
