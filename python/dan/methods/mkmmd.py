"""The paper's variants (Table 1/2 of Long et al. 2015) as configurations of one MK-MMD penalty
(DANLoss): which adapted layers it penalises, how many kernels, and whether beta is learned.

Layers are named by role, so a method applies to every backbone (backbones.py lists each
backbone's adapted layers, the last being the logits): "penultimate" (DAN7 and DDC: fc7 on AlexNet and
digits_cnn, the bottleneck on the others), "logits" (DAN8: fc8 / logits) and "all" (DAN and
DAN_SK: fc6-fc8, or bottleneck and logits). --fixed-betas W1,...,Wm replaces learned or uniform
beta by fixed weights in any multi-kernel configuration.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import torch

from dan_ext import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM, ESTIMATORS
from dan_ext.estimators import DEFAULT_ESTIMATOR, REGISTRY, get_estimator, min_rows_for_variance

from dan.methods.dan_loss import DANLoss, normalised_weights
from dan.methods.penalty import Method
from dan.methods.settings import Setting


@dataclass(frozen=True)
class MKMMD:
    roles: Tuple[str, ...]    # which adapted layers get the MMD penalty: penultimate, logits, all
    kernel_num: int           # 1 = a single Gaussian kernel at the mean distance
    learn_betas: bool         # solve DAN's QP for the kernel weights (else 1/m)

    def layers(self, adapted: Sequence[str]) -> Tuple[str, ...]:
        """The names of the penalised layers of a network whose adapted layers are ``adapted``."""
        picked = []
        for role in self.roles:
            picked += {"all": list(adapted), "logits": [adapted[-1]], "penultimate": [adapted[-2]]}[role]
        return tuple(dict.fromkeys(picked))


class _TrainerDANLoss(DANLoss):
    _fixed_by = "--fixed-betas"  # the status of fixed weights names the flag that set them


M = DEFAULT_KERNEL_NUM  # the paper's m = 5 kernels

# The settings of the MK-MMD penalty, declared here (methods/settings.py): every configuration with
# an adapted layer takes them; source_only, which penalises none, takes none.
KERNEL_MUL = Setting("kernel_mul", "float", DEFAULT_KERNEL_MUL, "the ratio between neighbouring kernels' "
                     "bandwidths: gamma_u = gbar * kernel_mul^(u - m//2)", missing="kernel bandwidths", low=0.0,
                     low_open=True)
ESTIMATOR = Setting("estimator", "str", DEFAULT_ESTIMATOR, f"the MK-MMD estimator, one of {', '.join(ESTIMATORS)} "
                    f"({DEFAULT_ESTIMATOR} is the paper's)", missing="MK-MMD estimator to choose")
BLOCK_SIZE = Setting("block_size", "int", None, "rows per domain in a block, --estimator block only (default: "
                     "max(2, isqrt(rows per domain)))", optional=True, missing="MK-MMD estimator to choose")
BETA_EVERY = Setting("beta_every", "int", 10, "K: re-solve beta from d and Q accumulated over K steps",
                     missing="learned kernel weights", low=1)
BETA_EPS = Setting("beta_eps", "float", 1e-3, "the ridge added to Q in beta's QP", missing="learned kernel weights",
                   low=0.0, low_open=True)
FIXED_BETAS = Setting("fixed_betas", "str", None, "W1,...,Wm fixes the kernel weights, narrowest kernel first "
                      "(default: learned by DAN's QP or 1/m, by method)", optional=True, missing="kernel weights")
SETTINGS = (KERNEL_MUL, ESTIMATOR, BLOCK_SIZE, BETA_EVERY, BETA_EPS, FIXED_BETAS)
CONFIGS = {
    "source_only": (MKMMD((), 1, False), "CNN: source labels only (lambda = 0)"),
    "ddc": (MKMMD(("penultimate",), 1, False), "DDC: one kernel, one layer (penultimate)"),
    "dan7": (MKMMD(("penultimate",), M, True), "DAN7: multi-kernel, penultimate layer only"),
    "dan8": (MKMMD(("logits",), M, True), "DAN8: multi-kernel, logits only"),
    "dan_sk": (MKMMD(("all",), 1, False), "DAN_SK: single kernel, all adapted layers"),
    "dan": (MKMMD(("all",), M, True), "DAN: multi-kernel, all adapted layers, learned beta"),
    # Not in the paper: DAN with beta fixed at 1/m, to measure what learning beta adds.
    "dan_uniform": (MKMMD(("all",), M, False), "DAN, uniform beta: multi-kernel, all layers, beta = 1/m"),
}
MULTI_KERNEL = tuple(name for name, (c, _) in CONFIGS.items() if c.kernel_num > 1)


def fixed_betas(cfg, kernel_num: int):
    """--fixed-betas as kernel_num weights summing to 1, or None; a one-line ValueError otherwise."""
    if cfg.fixed_betas is None:
        return None
    if kernel_num < 2:
        raise ValueError(f"--fixed-betas: method {cfg.method} has one kernel; fixed betas need a multi-kernel "
                         f"method ({', '.join(MULTI_KERNEL)})")
    return normalised_weights(str(cfg.fixed_betas), kernel_num, "--fixed-betas")


def check_kernel_mul(cfg, kernel_num: int) -> None:
    """--kernel-mul's bandwidth ladder must stay in range for the trainer's float32 features
    (bfloat16 under --amp, computed in float32): dan_ext's own rule, checked before any work."""
    from dan_ext import check_kernel_args

    try:
        check_kernel_args(None, None, kernel_num, float(cfg.kernel_mul), dtype=torch.float32)
    except ValueError as err:
        raise ValueError(f"--kernel-mul: {err}") from None


def uses_estimator(method: str) -> bool:
    """Whether ``method`` has an MK-MMD penalty whose estimator --estimator chooses (not
    source_only, which penalises no layer, nor the methods that are not MK-MMD)."""
    return method in CONFIGS and bool(CONFIGS[method][0].roles)


def check_estimator(cfg) -> None:
    """--estimator and --block-size: a known estimator, and a block size only for "block", an
    integer from 2 to the batch size per domain."""
    if not isinstance(cfg.estimator, str) or cfg.estimator not in ESTIMATORS:
        raise ValueError(f"--estimator must be one of {', '.join(ESTIMATORS)}, got {cfg.estimator!r}")
    B = cfg.block_size
    if B is None:
        return
    if not get_estimator(cfg.estimator).takes_block_size:
        with_blocks = ", ".join(e.name for e in REGISTRY if e.takes_block_size)
        raise ValueError(f"--block-size applies only to --estimator {with_blocks} (got --estimator {cfg.estimator})")
    if isinstance(B, bool) or not isinstance(B, int) or not 2 <= B <= cfg.batch_size:
        raise ValueError(f"--block-size must be an integer from 2 to --batch-size ({cfg.batch_size}), got {B!r}")


def check_variance_estimable(config: MKMMD, cfg) -> None:
    """A method that learns beta solves the QP from the variance Q of the estimate on each batch; a
    batch too small for Q (NaN) would keep beta at its start for the whole run, which reads as
    learned beta. unbiased and biased have a Q from 2 rows; the others need one pair of independent
    terms (dan_ext.variance_dof)."""
    n, est, B = cfg.batch_size, cfg.estimator, cfg.block_size
    if not (config.learn_betas and cfg.fixed_betas is None) or n >= min_rows_for_variance(est, B):
        return
    if get_estimator(est).takes_block_size and B is not None:
        raise ValueError(f"--block-size {B}: method {cfg.method} learns beta from the variance of the block "
                         f"estimate, which needs at least 2 blocks per batch: at most --batch-size / 2 = "
                         f"{n // 2} (per rank under torchrun)")
    raise ValueError(f"--batch-size {n}: method {cfg.method} learns beta from the variance of the {est} "
                     f"estimate, which needs at least {min_rows_for_variance(est, B)} rows per domain in a batch "
                     "(per rank under torchrun)")


def check(config: MKMMD, cfg) -> None:
    fixed_betas(cfg, config.kernel_num)
    check_kernel_mul(cfg, config.kernel_num)
    check_estimator(cfg)
    check_variance_estimable(config, cfg)


def build(config: MKMMD, cfg, network) -> DANLoss:
    fixed = fixed_betas(cfg, config.kernel_num)
    betas = fixed if fixed is not None else "learned" if config.learn_betas else "uniform"
    return _TrainerDANLoss(list(config.layers(network.adapted)), config.kernel_num, cfg.kernel_mul, betas,
                           cfg.beta_every, cfg.beta_eps, cfg.estimator, cfg.block_size)


def methods():
    """The seven configurations as Methods, in the order of the paper's table."""
    from functools import partial

    return {name: Method(name, description, partial(build, config), partial(check, config),
                         SETTINGS if config.roles else ())
            for name, (config, description) in CONFIGS.items()}
