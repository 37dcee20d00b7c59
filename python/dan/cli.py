"""The ``dan`` command line.

    dan train [--source printed --target digits --method dan --seed 0 --epochs E --out DIR] [--resume]
    dan ablate --source printed --target digits --seeds 3 --out DIR
    dan plot --checkpoint DIR/checkpoint.pt [--before SOURCE_ONLY_CHECKPOINT] [--out FILE.png]
    dan test A.npy B.npy [--kernel-num 5 --no-learn-betas --alpha 0.05 --seed 0]

``dan train`` with no arguments runs the default demo: printed -> digits with DAN, about a minute
on 2 CPU cores. Under torchrun, ``dan train`` trains on all ranks (see trainer.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .methods import METHODS
from .trainer import TrainConfig


def _add_train_args(p: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("method", "seed"):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            p.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes", "on"), default=default,
                           metavar="BOOL", help=f"(default {default})")
        else:
            typ = type(default) if default is not None else str
            p.add_argument(flag, type=typ, default=default, help=f"(default {default})")


def _config(args, **over) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    values.update(over)
    return TrainConfig(**values)


def cmd_train(args) -> int:
    from .trainer import train

    cfg = _config(args)
    result = train(cfg, resume=args.resume, progress=not args.quiet)
    if result.get("target_accuracy") is not None:
        print(f"{cfg.method} {cfg.source}->{cfg.target} seed {cfg.seed}: target accuracy "
              f"{result['target_accuracy']:.4f}, source accuracy {result['source_accuracy']:.4f} "
              f"({result['seconds']} s); wrote {Path(cfg.out) / 'result.json'}")
    return 0


def cmd_ablate(args) -> int:
    from .ablate import ablate

    methods = args.methods.split(",") if args.methods else list(METHODS)
    ablate(_config(args, out=args.out), methods, args.seeds, Path(args.out), progress=not args.quiet)
    return 0


def cmd_plot(args) -> int:
    from .plot import plot

    plot(Path(args.checkpoint), Path(args.before) if args.before else None,
         Path(args.out) if args.out else None, progress=not args.quiet)
    return 0


def cmd_test(args) -> int:
    import numpy as np
    import torch

    import dan_ext

    arrays = []
    for name in (args.a, args.b):
        try:
            arr = np.load(name)
        except (OSError, ValueError) as err:
            raise SystemExit(f"dan test: cannot read {name}: {err}")
        arr = arr.reshape(arr.shape[0], -1) if arr.ndim != 2 else arr
        arrays.append(torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64)))
    gen = torch.Generator().manual_seed(args.seed)
    r = dan_ext.mmd_test(arrays[0], arrays[1], kernel_num=args.kernel_num, kernel_mul=args.kernel_mul,
                         learn_betas=not args.no_learn_betas, alpha=args.alpha, generator=gen)
    print(json.dumps({
        "statistic": r.statistic, "std_error": r.std_error, "z": r.z, "p_value": r.p_value, "reject": r.reject,
        "alpha": r.alpha, "betas": r.betas.tolist(), "bandwidths": r.bandwidths.tolist(),
        "num_tuples": r.num_tuples, "beta_status": r.beta_status,
    }, indent=2))
    verdict = "differ" if r.reject else "are not distinguishable"
    print(f"At alpha={r.alpha}: the samples {verdict} (p = {r.p_value:.3g}).", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dan", description="DAN: Deep Adaptation Networks with the fused linear-time MK-MMD")
    sub = ap.add_subparsers(dest="command")
    defaults = TrainConfig()

    t = sub.add_parser("train", help="train one method on one domain pair (no arguments: the default demo)")
    t.add_argument("--method", default=defaults.method, help=f"one of {', '.join(METHODS)}")
    t.add_argument("--seed", type=int, default=defaults.seed)
    _add_train_args(t, defaults)
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(fn=cmd_train)

    a = sub.add_parser("ablate", help="every method of the paper's table over several seeds")
    a.add_argument("--seeds", type=int, default=3)
    a.add_argument("--methods", default=None, help="comma-separated subset (default: all)")
    _add_train_args(a, dataclasses.replace(defaults, out="runs/ablate"))
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(fn=cmd_ablate)

    pl = sub.add_parser("plot", help="t-SNE of features before/after adaptation and the proxy A-distance")
    pl.add_argument("--checkpoint", required=True)
    pl.add_argument("--before", default=None, help="checkpoint of the unadapted model (default: train source_only)")
    pl.add_argument("--out", default=None, help="PNG to write (default: next to the checkpoint)")
    pl.add_argument("--quiet", action="store_true")
    pl.set_defaults(fn=cmd_plot)

    te = sub.add_parser("test", help="linear-time MK-MMD two-sample test between two .npy arrays")
    te.add_argument("a")
    te.add_argument("b")
    te.add_argument("--kernel-num", type=int, default=5)
    te.add_argument("--kernel-mul", type=float, default=2.0)
    te.add_argument("--no-learn-betas", action="store_true")
    te.add_argument("--alpha", type=float, default=0.05)
    te.add_argument("--seed", type=int, default=0)
    te.set_defaults(fn=cmd_test)
    return ap


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["train"]  # the default demo
    args = build_parser().parse_args(argv)
    if not hasattr(args, "fn"):
        build_parser().print_help()
        return 2
    try:
        return args.fn(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"dan {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
