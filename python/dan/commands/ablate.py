"""``dan ablate``: every method of the paper's table on one domain pair over several seeds,
written up as results.md (mean +- std of target accuracy) and a bar plot."""
from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path
from typing import Dict, List, Optional

from dan_ext import ESTIMATORS
from dan_ext.estimators import DEFAULT_ESTIMATOR, get_estimator

from dan.runs.atomic import atomic_write, atomic_write_text
from dan.config import TrainConfig, resolve
from dan.data.domains import load_domain
from dan.methods import METHODS, get_method
from dan.methods.mkmmd import uses_estimator
from dan.methods.settings import reset_undeclared
from dan.runs.grid import check_seeds, run_grid


def ablate(base: TrainConfig, methods: List[str], seeds: int, out: Path, progress: bool = True,
           mode: str = "new", estimators: Optional[List[str]] = None) -> Dict[str, List[float]]:
    """Train every method x seed into OUT/METHOD/seedN and write the table and plot. With
    ``estimators``, every method x estimator x seed into OUT/METHOD@ESTIMATOR/seedN (rows
    METHOD@ESTIMATOR); without, every run uses ``base.estimator``.

    The run-folder rules of run_grid.py apply: ``mode="new"`` refuses a folder that holds an
    ablation, ``"resume"`` reuses finished runs whose settings match and continues interrupted ones
    from their checkpoints, ``"overwrite"`` retrains everything."""
    methods = check_methods(methods)
    check_seeds(seeds)
    if estimators is not None:
        estimators = check_estimators(estimators)
        if base.estimator != DEFAULT_ESTIMATOR:
            raise ValueError(f"--estimator {base.estimator} and --estimators: give one (--estimators E1,E2 trains "
                             "every method under each, --estimator E every method under E)")
        if base.block_size is not None and not any(get_estimator(e).takes_block_size for e in estimators):
            raise ValueError(f"--block-size applies only to block runs, and --estimators {','.join(estimators)} "
                             "has no block estimator")
    # A method without an MK-MMD estimator (source_only, coral, dann, jan) runs once, as it is: under
    # --estimators its row keeps its plain name, and a single --estimator does not apply to it.
    grid = [(m, None) for m in methods] if estimators is None else [
        (m, e) for m in methods for e in (estimators if uses_estimator(m) else [None])]
    base = resolve(base)  # every run's settings are checked by run_grid before anything trains

    def prepare() -> dict:  # the domains, loaded once for every run
        source = load_domain(base.source, base.cache_dir, base.image_size, base.workers, labelled=True)
        target = load_domain(base.target, base.cache_dir, base.image_size, base.workers)
        if not target.labelled:
            raise ValueError(f"--target {base.target} has no class folders: an ablation's table is of target "
                             "accuracy, which needs target labels (train on it unlabelled with dan train)")
        return {"source": source, "target": target}

    def run(m, e, seed):
        row = m if e is None else row_name(m, e)
        # each method gets the settings it declares; those it does not read stay at their defaults
        # (--kernel-mul for the MK-MMD methods and JAN, not CORAL); --block-size belongs to the block runs
        own = reset_undeclared(dataclasses.asdict(base), get_method(m), METHODS.values())
        if e is not None:
            own.update(estimator=e, block_size=base.block_size if get_estimator(e).takes_block_size else None)
        return row, TrainConfig(**{**own, "method": m, "seed": seed, "out": str(out / row / f"seed{seed}")})

    runs = [run(m, e, seed) for m, e in grid for seed in range(seeds)]
    groups = list(METHODS) + [row_name(m, e) for m in METHODS for e in ESTIMATORS]
    return run_grid(runs, out, mode, "an ablation", groups=groups, prepare=prepare,
                    write=lambda acc: write_results(base, acc, out, estimators is not None), progress=progress)


def row_name(method: str, estimator: str) -> str:
    return f"{method}@{estimator}"


def check_estimators(estimators: List[str]) -> List[str]:
    """--estimators as a list of distinct estimator names, or a one-line ValueError."""
    names = [e.strip() for e in estimators]
    unknown = [e for e in names if e not in ESTIMATORS]
    if not names or unknown:
        raise ValueError(f"--estimators must be comma-separated names of {', '.join(ESTIMATORS)}, got "
                         f"{','.join(estimators)!r}")
    repeated = sorted({e for e in names if names.count(e) > 1})
    if repeated:
        raise ValueError(f"--estimators names {', '.join(repeated)} more than once")
    return names


def check_methods(methods: List[str]) -> List[str]:
    """--methods as a list of distinct known names, or a one-line ValueError."""
    names = [m.strip() for m in methods]
    if not names or any(not m for m in names):
        raise ValueError(f"--methods must be comma-separated method names ({', '.join(METHODS)}), got "
                         f"{','.join(methods)!r}")
    for m in names:
        get_method(m)  # unknown names fail before any training
    repeated = sorted({m for m in names if names.count(m) > 1})
    if repeated:
        raise ValueError(f"--methods names {', '.join(repeated)} more than once; each method is trained once per seed")
    return names


def write_results(base: TrainConfig, acc: Dict[str, List[float]], out: Path, per_row_estimator: bool = False) -> None:
    def mean_std(v):
        return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)

    lines = [f"# {base.source} -> {base.target}: target accuracy (%), {len(next(iter(acc.values())))} seeds", "",
             f"epochs {base.epochs}, batch {base.batch_size}, lr {base.lr}, lambda {base.lam}"
             f"{' (ramped)' if base.lam_ramp else ''}, kernel_mul {base.kernel_mul}, beta every {base.beta_every} steps, "
             f"backbone {base.backbone}"
             + (f" (weights {base.weights})" if base.weights not in (None, "none") else "")
             + (f", {base.iters_per_epoch} iterations per epoch" if base.iters_per_epoch else "")
             + (f", images {base.image_size} x {base.image_size}" if base.image_size else "")
             + (f", fixed betas {base.fixed_betas}" if base.fixed_betas else "")
             + (f", estimator {base.estimator} (MK-MMD methods)" if base.estimator != DEFAULT_ESTIMATOR and not per_row_estimator
                else "")
             + (f", block size {base.block_size} (block runs)" if base.block_size else ""), "",
             "| method | what | target accuracy | per seed |", "|---|---|---|---|"]
    for m, v in acc.items():
        mu, sd = mean_std(v)
        method, _, estimator = m.partition("@")
        what = METHODS[method].description + (f"; {estimator} estimator" if estimator else "")
        lines.append(f"| {m} | {what} | {100 * mu:.1f} +- {100 * sd:.1f} | "
                     f"{', '.join(f'{100 * x:.1f}' for x in v)} |")
    atomic_write_text(out / "results.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "results.json", json.dumps(acc, indent=2))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(acc)
    mus = [100 * mean_std(acc[m])[0] for m in names]
    sds = [100 * mean_std(acc[m])[1] for m in names]
    fig, ax = plt.subplots(figsize=(max(7.0, 0.8 * len(names)), 3.5))
    ax.bar(names, mus, yerr=sds, capsize=4, color="#4c72b0")
    if len(names) > 8:
        ax.tick_params(axis="x", labelrotation=45)
    ax.set_ylabel("target accuracy (%)")
    ax.set_title(f"{base.source} -> {base.target}")
    ax.set_ylim(0, 100)
    fig.tight_layout()
    atomic_write(out / "results.png", lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
