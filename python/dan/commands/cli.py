"""The ``dan`` command line.

    dan train [--source printed --target digits --method dan --seed 0 --epochs E --out DIR] [--resume | --overwrite]
    dan ablate --source printed --target digits --seeds 3 --out DIR [--resume | --overwrite]
    dan plot --checkpoint DIR/checkpoint.pt [--before SOURCE_ONLY_CHECKPOINT] [--out FILE.png] [--overwrite]
    dan plot-betas --run DIR [--out FILE.png] [--overwrite]
    dan test A.npy B.npy [--kernel-num M --no-learn-betas --alpha 0.05 --seed 0]
    dan predict --checkpoint DIR/checkpoint.pt --images PATH --out predictions.csv
    dan benchmark office31|office-home --root PATH [--backbone efficientnet_lite0 --method dan --seeds 1]
    dan convert-checkpoint --trust FILE
    dan digit-folders --domain printed|mnist|digits --out PATH [--size 32] [--overwrite]
    dan features --source S --target T --backbone B [--weights W] [--checkpoint RUN] [--layer L] --out DIR
    dan classic --method tca|jda|bda|tjm|sa|coral|gfk|none --features DIR [--n-components K ...] [--out RUN]
    dan classic-ablate --methods all --seeds N --features DIR --out DIR [--overwrite]

``dan train`` with no arguments runs the default demo: printed -> digits with DAN, about a minute
on 2 CPU cores. Under torchrun, ``dan train`` trains on all ranks (see trainer.py).

Errors are one line on stderr: exit 2 for bad arguments or input (as argparse), 1 when the work
itself fails (a busy run folder, a diverged run, a missing optional dependency). ``dan --debug``
or DAN_DEBUG=1 shows the traceback as well.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import dan_ext
from dan_ext import DEFAULT_KERNEL_MUL, DEFAULT_KERNEL_NUM

from dan import config
from dan.models.backbones import BACKBONES
from dan.config import TrainConfig
from dan.methods import ABLATION, METHODS, settings
from dan.data.transforms import CROP

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_SEEDS_HELP = "N: runs seeds 0 to N - 1 of every method, N from 1 to 1000 (default {default})"


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (or {'/'.join(_TRUE[:1] + _FALSE[:1])}), got {text!r}")


def _protocol(name: str, none: str = "") -> str:
    """What --NAME left out becomes, read from the protocols config.resolve() applies (``none``:
    what a protocol without the setting does)."""
    digits, images = (p.get(name, none) for p in (config.DIGIT_PROTOCOL, config.IMAGE_PROTOCOL))
    return f"{digits} for digit domains, {images} for image folders"


def _default_weights() -> str:
    """--weights left out, per backbone spec: e.g. "imagenet for efficientnet_lite0, none (random) otherwise"."""
    by_value = {}
    for name, spec in BACKBONES.items():
        if spec.default_weights is not None:
            by_value.setdefault(spec.default_weights, []).append(name)
    given = [f"{value} for {', '.join(which)}" for value, which in by_value.items()]
    return ", ".join(given + ["none (random) otherwise" if given else "none (random)"]) + "; or a state-dict file"


def _optional() -> dict:
    """Settings whose default is None ("decided by the data"), with their type and what None means;
    built with the parser, so the help shows the protocols and backbone specs as they are."""
    return {
        "epochs": (int, _protocol("epochs")),
        "batch_size": (int, _protocol("batch_size") + "; per domain"),
        "lr": (float, _protocol("lr") + "; new layers at 10x"),
        "iters_per_epoch": (int, _protocol("iters_per_epoch", none="one pass over the source")),
        "weights": (str, _default_weights()),
        "image_size": (int, f"{CROP} crops; S resizes images to S x S with no crop or flip"),
        "cache_dir": (str, "$DAN_CACHE, else ~/.cache/dan_ext"),
        "freeze": (str, "nothing frozen. STAGE freezes the backbone's body from its input up to and including "
                        "STAGE; body freezes all of it, so only the new layers train. Stages, input to output: "
                        + "; ".join(f"{n}: {', '.join(s.name for s in b.stages)}" for n, b in BACKBONES.items()
                                    if b.stages)),
        "unfreeze_every": (int, "never. N: every N epochs unfreeze one more stage from the top of the frozen "
                                "ones (gradual unfreezing); starts from --freeze, or the whole body without it"),
    }


def _domain_help(name: str, default: str) -> str:
    from dan.data import DIGIT_DOMAINS

    several = ("; several labelled folders, each once: folder:A,folder:B" if name == "source" else
               " (one domain)")
    return (f"one of {', '.join(DIGIT_DOMAINS)} or folder:PATH{several}. Commas separate folders, so give a folder "
            f"whose name has a comma through a symbolic link without one (default {default})")


_PYTHON_TYPES = {"int": int, "float": float, "str": str}


def _method_setting_help(s, default) -> str:
    """A declared setting's help (methods/settings.py), with the methods that read it."""
    users = settings.users(s.name, METHODS.values())
    shown = "" if s.optional else f" (default {default})"  # an optional one's help says what None means
    return f"{s.help}{shown}; for {', '.join(users)}"


def _add_train_args(p: argparse.ArgumentParser, defaults: TrainConfig, skip=("method", "seed")) -> None:
    optional = _optional()
    declared = settings.declared(METHODS.values())
    own = p.add_argument_group("settings of some methods (each refused for the others)")
    for f in dataclasses.fields(TrainConfig):
        if f.name in skip:
            continue
        if f.name in declared:
            s, default = declared[f.name], getattr(defaults, f.name)
            kind = dict(type=_bool, metavar="BOOL") if s.type == "bool" else dict(type=_PYTHON_TYPES[s.type])
            own.add_argument(s.flag, default=default, help=_method_setting_help(s, default), **kind)
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            p.add_argument(flag, type=_bool, default=default, metavar="BOOL", help=f"true or false (default {default})")
        elif f.name in optional:
            typ, meaning = optional[f.name]
            p.add_argument(flag, type=typ, default=default, help=f"(default: {meaning})")
        elif f.name in ("source", "target"):
            p.add_argument(flag, default=default, help=_domain_help(f.name, default))
        elif f.name == "backbone":
            p.add_argument(flag, default=default, help=f"one of {', '.join(BACKBONES)} (default {default})")
        else:
            p.add_argument(flag, type=type(default), default=default, help=f"(default {default})")


def _add_folder_args(p: argparse.ArgumentParser, what: str) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help=f"continue the {what} already in --out")
    g.add_argument("--overwrite", action="store_true", help=f"replace the {what} already in --out")


def _config(args, **over) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    values.update(over)
    return TrainConfig(**values)


def cmd_train(args) -> int:
    from dan.trainer import train

    cfg = _config(args)
    result = train(cfg, resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun only rank 0 evaluates, writes result.json and reports
    # some images did not decode (a run finished by an older version has no count: None)
    partial = result.get("target_evaluated") not in (None, result["target_images"])
    target = (f"target accuracy {result['target_accuracy']:.4f}"
              + (f" (over the {result['target_evaluated']} of {result['target_images']} images that decoded)"
                 if partial else "") if result.get("target_accuracy") is not None else "target unlabelled")
    source = f"{result['source_accuracy']:.4f}" if result.get("source_accuracy") is not None else "n/a"
    print(f"{cfg.method} {cfg.source}->{cfg.target} seed {cfg.seed}: {target}, source accuracy {source} "
          f"({result['seconds']} s); wrote {Path(cfg.out) / 'result.json'}")
    return 0


def cmd_ablate(args) -> int:
    from dan.commands.ablate import ablate

    methods = args.methods.split(",") if args.methods is not None else list(ABLATION)
    estimators = args.estimators.split(",") if args.estimators is not None else None
    ablate(_config(args, out=args.out), methods, args.seeds, Path(args.out), progress=not args.quiet,
           mode="resume" if args.resume else "overwrite" if args.overwrite else "new", estimators=estimators)
    return 0


def cmd_benchmark(args) -> int:
    from dan.commands.benchmark import benchmark

    benchmark(args.benchmark, Path(args.root), _config(args, out=args.out), args.seeds, Path(args.out),
              progress=not args.quiet, mode="resume" if args.resume else "overwrite" if args.overwrite else "new")
    print(f"wrote {Path(args.out) / 'results.md'} and results.png")
    return 0


def _file_arg(text):
    """--out FILE as a Path, or None when not given; a trailing / names a folder, which Path() would
    silently drop (--out results/ would write a file called results)."""
    if text is None:
        return None
    if text.endswith(("/", os.sep)):
        raise ValueError(f"--out {text} names a folder; give a file to write, e.g. --out {text.rstrip('/')}/NAME")
    return Path(text)


def cmd_plot(args) -> int:
    from dan.commands.plot import plot

    plot(Path(args.checkpoint), Path(args.before) if args.before else None,
         _file_arg(args.out), progress=not args.quiet, overwrite=args.overwrite)
    return 0


def cmd_plot_betas(args) -> int:
    from dan.commands.beta_plot import plot_betas

    summary = plot_betas(Path(args.run), _file_arg(args.out), overwrite=args.overwrite)
    for layer, s in summary["layers"].items():
        favourite = summary["kernels"][max(range(len(s["favourite_share"])), key=s["favourite_share"].__getitem__)]
        print(f"{layer}: {s['updates']} updates, one kernel at {100 * s['at_vertex']:.0f}%, favourite changes at "
              f"{100 * s['favourite_changes']:.0f}%, most often {favourite}; mean beta {s['mean_beta']}")
    print(f"wrote {summary['png']} and {summary['json']}")
    return 0


def _finite_or_none(v):
    return v if not isinstance(v, float) or math.isfinite(v) else None


def cmd_test(args) -> int:
    import torch

    from dan.data.feature_files import read_sample

    # dan_ext.mmd_test's minimum: 2 quad-tuples (4 rows) in each part it tests or learns on.
    if args.no_learn_betas:
        need = (4, " to form 2 quad-tuples of 2 rows, the fewest that estimate the variance")
    else:
        need = (8, ": half choose the kernel weights and half are tested, each at least 4 rows (2 quad-tuples); "
                   "4 rows suffice with --no-learn-betas")
    if not 0 <= args.seed <= config.MAX_SEED:  # torch's generator overflows beyond; one range for every command
        raise ValueError(f"--seed must be an integer >= 0 and <= {config.MAX_SEED}, got {args.seed}")
    a, b = read_sample(args.a, *need), read_sample(args.b, *need)
    gen = torch.Generator().manual_seed(args.seed)
    try:
        r = dan_ext.mmd_test(a, b, kernel_num=args.kernel_num, kernel_mul=args.kernel_mul,
                             learn_betas=not args.no_learn_betas, alpha=args.alpha, generator=gen)
    except ValueError as err:  # errors about the data name mmd_test's x and y: name the files
        msg = str(err)
        for prefix, files in (("x/y:", f"{args.a} and {args.b}:"), ("x and y ", f"{args.a} and {args.b} "),
                              ("x ", f"{args.a} "), ("y ", f"{args.b} ")):
            if msg.startswith(prefix):
                raise ValueError(files + msg[len(prefix):]) from None
        raise
    report = {
        "statistic": r.statistic, "std_error": r.std_error, "z": r.z, "p_value": r.p_value, "reject": r.reject,
        "alpha": r.alpha, "betas": r.betas.tolist(), "bandwidths": r.bandwidths.tolist(),
        "num_tuples": r.num_tuples, "dof": r.dof, "beta_status": r.beta_status,
    }
    # Always valid JSON: an infinite z (zero standard error) is written as null.
    print(json.dumps({k: _finite_or_none(v) for k, v in report.items()}, indent=2, allow_nan=False))
    verdict = "differ" if r.reject else "are not distinguishable"
    print(f"At alpha={r.alpha}: the samples {verdict} (p = {r.p_value:.3g}).", file=sys.stderr)
    return 0


def cmd_predict(args) -> int:
    from dan.commands.predict import predict

    r = predict(Path(args.checkpoint), args.images, _file_arg(args.out), workers=args.workers, device=args.device,
                overwrite=args.overwrite, progress=not args.quiet)
    if r["skipped"]:
        print(f"skipped {len(r['skipped'])} unreadable image(s), e.g. {r['skipped'][0]}", file=sys.stderr)
    acc = f"; accuracy {r['accuracy']:.4f} against the class folders" if r["accuracy"] is not None else ""
    print(f"predicted {r['predicted']} of {r['images']} images{acc}; wrote {r['csv']}")
    return 0


def cmd_convert(args) -> int:
    from dan.runs.checkpoint import convert_trusted

    if not args.trust:
        raise ValueError("convert-checkpoint unpickles the file, which can run any code in it: pass --trust only "
                         "for a checkpoint you made yourself or got from someone you trust")
    backup = convert_trusted(Path(args.checkpoint))
    print(f"converted {args.checkpoint} to the safe format; the original is kept as {backup}")
    return 0


def cmd_digit_folders(args) -> int:
    from dan.data.digit_images import write_digit_folder

    r = write_digit_folder(args.domain, Path(args.out), args.size, overwrite=args.overwrite, progress=not args.quiet)
    print(f"wrote {r['images']} {r['domain']} images ({r['size']} x {r['size']} RGB, {min(r['per_class'])}-"
          f"{max(r['per_class'])} per digit) to {r['out']}; train on it as folder:{r['out']}")
    return 0


def _extract_args(args) -> dict:
    return {"source": args.source, "target": args.target, "backbone": args.backbone, "weights": args.weights,
            "checkpoint": args.checkpoint, "layer": args.layer, "image_size": args.image_size,
            "cache_dir": args.cache_dir, "workers": args.workers, "device": args.device}


def cmd_features(args) -> int:
    from dan.commands.features import extract_features

    extract = _extract_args(args)
    if extract["source"] is None or extract["target"] is None:
        raise ValueError(f"--{'source' if extract['source'] is None else 'target'}: dan features needs both "
                         "--source and --target")
    done = extract_features(out=args.out, progress=not args.quiet, **extract)
    for role, d in done.items():
        skipped = f", {d['skipped']} image(s) skipped (did not decode)" if d["skipped"] else ""
        print(f"{role} {d['domain']}: {'reused' if d['reused'] else 'extracted'} {d['rows']} x {d['width']} "
              f"{d['layer']} features ({d['why']}{skipped}); {d['path']}")
    return 0


def _classic_values(args) -> dict:
    from dan.commands.classic_params import given

    return given(args)


def cmd_classic(args) -> int:
    from dan.commands.classic import classic

    r = classic(args.method, args.out, features=args.features, extract=_extract_args(args),
                values=_classic_values(args), classifier=args.classifier, normalize=args.normalize, seed=args.seed,
                overwrite=args.overwrite, progress=not args.quiet)
    acc = f"target accuracy {r['target_accuracy']:.4f}" if r["target_accuracy"] is not None else "target unlabelled"
    print(f"{args.method} {r['features']['source']['domain']}->{r['features']['target']['domain']} seed {args.seed}: "
          f"{acc} ({r['seconds']} s); wrote {Path(args.out) / 'result.json'}")
    return 0


def cmd_classic_ablate(args) -> int:
    from dan.commands.classic_ablate import classic_ablate

    classic_ablate(args.methods.split(","), args.seeds, args.out, features=args.features, extract=_extract_args(args),
                   values=_classic_values(args), classifier=args.classifier, normalize=args.normalize,
                   overwrite=args.overwrite, progress=not args.quiet,
                   command=" ".join(["dan", *sys.argv[1:]]) if sys.argv[1:2] == ["classic-ablate"] else "")
    print(f"wrote {Path(args.out) / 'results.md'}, results.json and results.png")
    return 0


def _add_feature_args(p: argparse.ArgumentParser, required: bool) -> None:
    """The flags of dan features; for dan classic and classic-ablate they extract (or reuse) the
    features instead of --features DIR."""
    from dan.models.backbones import BACKBONES

    g = p if required else p.add_argument_group("features to extract (or reuse) instead of --features DIR")
    g.add_argument("--source", default=None, help=_domain_help("source", "none") if required else "as dan features'")
    g.add_argument("--target", default=None, help=_domain_help("target", "none") if required else "as dan features'")
    g.add_argument("--backbone", default=None, help=f"one of {', '.join(BACKBONES)} (default: the --checkpoint's)")
    g.add_argument("--weights", default=None, help=f"(default: {_default_weights()})")
    g.add_argument("--checkpoint", default=None, help="a dan train run folder or checkpoint file: the features of "
                   "the adapted network (its backbone and image size)")
    g.add_argument("--layer", default=None, help="input (raw pixels), backbone (the pooled backbone output; the "
                   "default), or an adapted layer (the default with --checkpoint: the penultimate one)")
    g.add_argument("--image-size", type=int, default=None, help="S: images resized to S x S (default: 224 centre "
                   "crops); folder: domains only")
    g.add_argument("--cache-dir", default=None, help="where the digit domains are cached ($DAN_CACHE, else "
                   "~/.cache/dan_ext)")
    # dan classic: None (left out) = extract_features' default, so that one given beside --features is refused
    g.add_argument("--workers", type=int, default=2 if required else None, help="processes decoding images (default 2)")
    g.add_argument("--device", default="cpu" if required else None, help="where the network runs: cpu, cuda or "
                   "cuda:N (default cpu)")


def _add_classic_args(p: argparse.ArgumentParser) -> None:
    from dan.commands import classic_params as P

    p.add_argument("--features", default=None, help="a folder written by dan features (with --source/--target: "
                   "where to extract them; default $DAN_CACHE/features/DIGEST)")
    m = p.add_argument_group("method settings (the estimators' parameters; each applies to the methods that take it)")
    typ = {"n_components": int, "kernel": str, "mu": str, "reg": float, "n_iter": int, "bandwidth": float,
           "n_landmarks": str}
    helps = {"n_components": "dimensions kept", "kernel": "rbf, linear or primal",
             "mu": "TCA/JDA/TJM: the regulariser; BDA: the balance factor in [0, 1] or auto",
             "reg": "BDA's regulariser; CORAL's", "n_iter": "pseudo-label (JDA, BDA) or reweighting (TJM) solves",
             "bandwidth": "rbf bandwidth (default: the mean squared distance)",
             "n_landmarks": "Nystrom landmarks: a number, auto or exact"}
    for param, flag in P.FLAGS.items():
        m.add_argument(flag, dest=param, type=typ[param], default=None,
                       help=f"{helps[param]}; for {', '.join(P.takers(param))} (default: the estimator's)")
    p.add_argument("--classifier", default="1nn", help=f"one of {', '.join(P.CLASSIFIERS)}: trained on the embedded "
                   "source, and JDA's/BDA's pseudo-labeller (default 1nn, as in the papers)")
    p.add_argument("--normalize", default="l2", help="l2 (each row to unit length, as the published scripts) or none "
                   "(default l2)")
    p.add_argument("--overwrite", action="store_true", help="replace what --out already holds")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dan", description="DAN: Deep Adaptation Networks with the fused linear-time MK-MMD")
    ap.add_argument("--version", action="version", version=f"dan (dan_ext) {dan_ext.__version__}",
                    help="print the installed dan_ext version and exit")
    sub = ap.add_subparsers(dest="command")
    defaults = TrainConfig()

    t = sub.add_parser("train", help="train one method on one domain pair (no arguments: the default demo)")
    t.add_argument("--method", default=defaults.method, help=f"one of {', '.join(METHODS)}")
    t.add_argument("--seed", type=int, default=defaults.seed,
                   help=f"random seed of the run, 0 to {config.MAX_SEED} (default {defaults.seed})")
    _add_train_args(t, defaults)
    _add_folder_args(t, "run")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(fn=cmd_train)

    a = sub.add_parser("ablate", help="every method of the paper's table over several seeds")
    a.add_argument("--seeds", type=int, default=3, help=_SEEDS_HELP.format(default=3))
    a.add_argument("--methods", default=None, help=f"comma-separated, of {', '.join(METHODS)} "
                                                     f"(default: {','.join(ABLATION)})")
    a.add_argument("--estimators", default=None,
                   help="comma-separated MK-MMD estimators: every method under each (rows METHOD@ESTIMATOR; "
                        "default: --estimator alone)")
    _add_train_args(a, dataclasses.replace(defaults, out="runs/ablate"))
    _add_folder_args(a, "ablation")
    a.add_argument("--quiet", action="store_true", help="no progress bars")
    a.set_defaults(fn=cmd_ablate)

    from dan.commands.benchmark import BENCHMARKS

    b = sub.add_parser("benchmark", help="every task of Office-31 or Office-Home, with the published numbers beside")
    b.add_argument("benchmark", choices=list(BENCHMARKS), help="which benchmark's tasks to run")
    b.add_argument("--root", required=True, help="the dataset's folder (Office-31: holds amazon, dslr, webcam)")
    b.add_argument("--method", default="dan", help=f"one of {', '.join(METHODS)}")
    b.add_argument("--seeds", type=int, default=1, help=_SEEDS_HELP.format(default=1))
    _add_train_args(b, dataclasses.replace(defaults, out="runs/benchmark", backbone="efficientnet_lite0"),
                    skip=("method", "seed", "source", "target"))  # the tasks set source and target
    _add_folder_args(b, "benchmark")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(fn=cmd_benchmark)

    pl = sub.add_parser("plot", help="t-SNE of features before/after adaptation and the proxy A-distance")
    pl.add_argument("--checkpoint", required=True, help="the adapted run's checkpoint.pt")
    pl.add_argument("--before", default=None, help="checkpoint of the unadapted model (default: train source_only)")
    pl.add_argument("--out", default=None, help="PNG to write, with a .json beside (default: tsne.png next to the "
                    "checkpoint); never a run's own file")
    pl.add_argument("--overwrite", action="store_true", help="replace an existing --out and its .json")
    pl.add_argument("--quiet", action="store_true", help="no progress bars")
    pl.set_defaults(fn=cmd_plot)

    pb = sub.add_parser("plot-betas", help="beta per layer over a run's training, as a picture and numbers")
    pb.add_argument("--run", required=True, help="a dan train run folder (holds log.json)")
    pb.add_argument("--out", default=None, help="PNG to write (default: RUN/betas.png), with a .json beside; "
                    "never a run's own file")
    pb.add_argument("--overwrite", action="store_true", help="replace an existing --out and its .json")
    pb.set_defaults(fn=cmd_plot_betas)

    te = sub.add_parser("test", help="linear-time MK-MMD two-sample test between two .npy arrays")
    te.add_argument("a", help="the first sample: a .npy array [n, d] of real values, rows = samples")
    te.add_argument("b", help="the second sample: a .npy array [m, d] with the same d")
    te.add_argument("--kernel-num", type=int, default=DEFAULT_KERNEL_NUM, help=f"(default {DEFAULT_KERNEL_NUM})")
    te.add_argument("--kernel-mul", type=float, default=DEFAULT_KERNEL_MUL, help=f"(default {DEFAULT_KERNEL_MUL})")
    te.add_argument("--no-learn-betas", action="store_true",
                    help="test every row with uniform kernel weights (default: half the rows learn the weights, "
                         "half are tested)")
    te.add_argument("--alpha", type=float, default=0.05, help="the test's level, in (0, 1) (default 0.05)")
    te.add_argument("--seed", type=int, default=0,
                    help=f"seed of the rows' shuffle, 0 to {config.MAX_SEED} (default 0)")
    te.set_defaults(fn=cmd_test)

    pr = sub.add_parser("predict", help="a checkpoint's predictions for a folder of images, as CSV")
    pr.add_argument("--checkpoint", required=True, help="a dan train run's checkpoint.pt")
    pr.add_argument("--images", required=True, help="a folder: PATH/IMAGE (unlabelled) or PATH/CLASS/IMAGE")
    pr.add_argument("--out", required=True, help="CSV to write: path, predicted, probability[, label] (cells "
                    "that a spreadsheet would run as formulas get a leading ')")
    pr.add_argument("--workers", type=int, default=2, help="processes decoding images, an integer from 0 to the cores "
                    "(default 2)")
    pr.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(fn=cmd_predict)

    cv = sub.add_parser("convert-checkpoint", help="rewrite a trusted dan_ext 0.1 checkpoint in the safe format")
    cv.add_argument("checkpoint", help="the dan_ext 0.1 checkpoint to rewrite in place (the original is kept "
                    "as FILE.unsafe-backup)")
    cv.add_argument("--trust", action="store_true", help="required: the file is unpickled, which can run code in it")
    cv.set_defaults(fn=cmd_convert)

    from dan.data.digit_images import DIGIT_FOLDER_DOMAINS

    dg = sub.add_parser("digit-folders", help="write a digit domain as an image folder (PATH/DIGIT/N.png, RGB)")
    dg.add_argument("--domain", required=True, choices=DIGIT_FOLDER_DOMAINS, help="the digit domain to write")
    dg.add_argument("--out", required=True, help="the folder to create")
    dg.add_argument("--size", type=int, default=32, help="S: images are S x S (default 32)")
    dg.add_argument("--overwrite", action="store_true",
                    help="replace an existing --out, only if it is a folder that dan digit-folders wrote")
    dg.add_argument("--quiet", action="store_true", help="no progress bar")
    dg.set_defaults(fn=cmd_digit_folders)

    fe = sub.add_parser("features", help="a backbone's features of a source and a target domain, cached as .npy")
    _add_feature_args(fe, required=True)
    fe.add_argument("--out", required=True, help="the features folder: reused when the inputs are the same, "
                    "recomputed when they changed")
    fe.add_argument("--quiet", action="store_true", help="no progress bar")
    fe.set_defaults(fn=cmd_features)

    from dan.classic.run import METHODS as CLASSIC

    cl = sub.add_parser("classic", help="a classical method (TCA, JDA, ...) on features: target accuracy")
    cl.add_argument("--method", required=True, help=f"one of {', '.join(CLASSIC)}")
    cl.add_argument("--seed", type=int, default=0, help="Nystrom landmarks, BDA's mu estimate, a seeded classifier")
    cl.add_argument("--out", default="runs/classic", help="the run folder (default runs/classic)")
    _add_classic_args(cl)
    _add_feature_args(cl, required=False)
    cl.set_defaults(fn=cmd_classic)

    ca = sub.add_parser("classic-ablate", help="every classical method on one pair of features, seeds where "
                        "they matter: a table and a bar plot")
    ca.add_argument("--methods", default="all", help=f"all or comma-separated, of {', '.join(CLASSIC)}")
    ca.add_argument("--seeds", type=int, default=3, help="seeds of the methods whose result depends on one")
    ca.add_argument("--out", default="runs/classic-ablate", help="the table folder")
    _add_classic_args(ca)
    _add_feature_args(ca, required=False)
    ca.set_defaults(fn=cmd_classic_ablate)
    return ap


def _exit_code(err: BaseException) -> int:
    """2 for bad arguments or input (as argparse), 1 when the work itself failed."""
    return 2 if isinstance(err, (ValueError, FileNotFoundError, TypeError)) else 1


REFUSAL_GRACE_S = 10.0  # seconds a rank other than 0 waits before it reports a refusal under torchrun


def _tell_torchrun(line: str) -> None:
    """Under torchrun, ``line`` in this worker's error file (TORCHELASTIC_ERROR_FILE, in the
    format torch's ErrorHandler writes): torchrun's summary of the failed ranks then shows it in
    place of "To enable traceback see: ...". A courtesy: the line is on stderr already, so a file
    that cannot be written is left."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    record = {"message": {"message": line, "extraInfo": {"py_callstack": line, "timestamp": str(int(time.time()))}}}
    try:
        Path(path).write_text(json.dumps(record))
    except OSError:
        pass


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("DAN_DEBUG", "") not in ("", "0")
    if argv[:1] == ["--debug"]:
        debug, argv = True, argv[1:]
    if not argv:
        argv = ["train"]  # the default demo
    # warnings (an unreadable image skipped, a cache rebuilt) as one plain line each
    warnings.formatwarning = lambda message, category, *rest: f"dan: warning: {message}\n"
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "fn"):
        parser.print_help()
        return 2
    # Under torchrun every rank reads the same arguments and data, so a refusal or an interruption
    # is reported by rank 0 alone (the others exit with the same status, or are stopped by torchrun
    # first); a rank's own failure (a collective that timed out) by the rank it happened on.
    lead = os.environ.get("RANK", "0").strip() in ("0", "")
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        _tell_torchrun(f"dan {args.command}: interrupted")
        if lead:
            print(f"dan {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one line, never a traceback unless asked for
        if debug:
            traceback.print_exc()
        text = " ".join(str(err).split()) or type(err).__name__
        known = isinstance(err, (ValueError, FileNotFoundError, TypeError, RuntimeError, OSError))
        hint = "" if known or debug else f" ({type(err).__name__}; rerun with dan --debug for the traceback)"
        _tell_torchrun(f"dan {args.command}: error: {text}{hint}")
        if not (lead or debug) and _exit_code(err) == 2 and "TORCHELASTIC_RUN_ID" in os.environ:
            # rank 0 refuses the same arguments: torchrun stops this rank once rank 0 has exited
            # (and printed); a rank still alive after the grace reports its refusal itself
            time.sleep(REFUSAL_GRACE_S)
        print(f"dan {args.command}: error: {text}{hint}", file=sys.stderr)
        return _exit_code(err)


if __name__ == "__main__":
    raise SystemExit(main())
