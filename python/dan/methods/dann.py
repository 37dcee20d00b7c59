"""DANN (Ganin and Lempitsky, "Unsupervised Domain Adaptation by Backpropagation", ICML 2015;
Ganin et al., JMLR 2016), as a method of the trainer: a domain discriminator on the penultimate
adapted layer (the bottleneck of the image backbones, fc7 of digits_cnn and AlexNet) learns to
tell source from target, and a gradient reversal layer between the features and the
discriminator makes the network learn features it cannot tell apart.

- The discriminator of the common ResNet re-implementations (and of the JMLR paper's Office
  experiments): width -> 1024 -> ReLU -> dropout 0.5 -> 1024 -> ReLU -> dropout 0.5 -> 1 logit,
  trained with binary cross-entropy (source 1, target 0, the mean of the two domains' losses).
  Its parameters are their own optimiser group at 10x the base learning rate (new layers), and
  they are in the checkpoint with the rest of the method's state.
- The reversal coefficient follows the paper's schedule 2 / (1 + exp(-10 p)) - 1 (p the training
  progress) when --lam-ramp is on, else 1; the discriminator's own loss is weighted by --lam
  alone (the trainer does not ramp a penalty whose ``ramps_itself`` is set), so the
  discriminator learns at full strength from the first step, as in the paper.
- Under torchrun the trainer wraps the discriminator in DDP: its gradients are averaged like the
  network's, and each rank's loss is the mean over its slice, so their mean is the global one.
"""
from __future__ import annotations

import math
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from dan.distributed import all_mean, process_group
from dan.methods.penalty import Method, Penalty


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff: float):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.coeff * grad, None


def reverse_gradient(x: torch.Tensor, coeff: float) -> torch.Tensor:
    """x forward; -coeff times the incoming gradient backward."""
    return _Reverse.apply(x, coeff)


class DomainDiscriminator(nn.Sequential):
    def __init__(self, width: int, hidden: int = 1024, dropout: float = 0.5):
        super().__init__(nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                         nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                         nn.Linear(hidden, 1))


def reversal_coefficient(progress: float, ramp: bool) -> float:
    """DANN's schedule: 0 at the start, towards 1 at the end (Ganin and Lempitsky 2015, Sec. 5)."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0 if ramp else 1.0


class DANN(Penalty):
    ramps_itself = True  # the ramp is on the reversed gradient, not on the discriminator's loss

    def __init__(self, layer: str, width: int, ramp: bool = True):
        super().__init__()
        self.layers = (layer,)
        self.ramp = ramp
        self.discriminator = DomainDiscriminator(width)

    def forward(self, source, target, progress: float) -> torch.Tensor:
        (layer,) = self.layers
        coeff = reversal_coefficient(progress, self.ramp)
        fs, ft = source[layer].float(), target[layer].float()
        logits = self.discriminator(reverse_gradient(torch.cat([fs, ft]), coeff)).squeeze(1)
        ds, dt = logits[:len(fs)], logits[len(fs):]
        loss = 0.5 * (F.binary_cross_entropy_with_logits(ds, torch.ones_like(ds))
                      + F.binary_cross_entropy_with_logits(dt, torch.zeros_like(dt)))
        with torch.no_grad():  # how well the discriminator tells the domains apart (0.5 = not at all)
            accuracy = 0.5 * ((ds > 0).float().mean() + (dt <= 0).float().mean())
        info = process_group()  # the log's numbers over the global batch, as one process sees them
        self._log = {"domain_loss": float(all_mean(loss.detach().double(), info)),
                     "domain_accuracy": float(all_mean(accuracy.double(), info)), "reversal": coeff}
        return loss

    def result_columns(self, last_row) -> Dict[str, object]:
        return {"final_domain_accuracy": last_row.get("domain_accuracy"),
                "final_domain_loss": last_row.get("domain_loss")}

    def param_groups(self, lr: float):
        return [{"params": list(self.discriminator.parameters()), "lr_mult": 10.0}]


def _build(cfg, network) -> DANN:
    layer = network.adapted[-2]
    return DANN(layer, network.width(layer), ramp=cfg.lam_ramp)


METHOD = Method("dann", "DANN: gradient reversal into a 1024-1024 domain discriminator on the penultimate layer "
                "(Ganin and Lempitsky 2015)", _build)
