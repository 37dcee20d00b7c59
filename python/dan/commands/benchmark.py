"""``dan benchmark office31|office-home --root PATH``: every task of a standard benchmark, trained
one after another into OUT/TASK/seedN, and a table in the paper's form with the published numbers
beside ours (OUT/results.md, results.json and a bar plot, results.png).

The datasets cannot be downloaded here; the user points --root at their copy, in the layouts of
image_folder.py (Office-31: ROOT/amazon/images/CLASS/IMAGE; Office-Home: ROOT/Art/CLASS/IMAGE).
"""
from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path
from typing import Dict, List, Tuple

from dan_ext.estimators import DEFAULT_ESTIMATOR

from dan.runs.atomic import atomic_write, atomic_write_text
from dan.config import TrainConfig, resolve
from dan.data.image_folder import discover
from dan.runs.grid import check_seeds, run_grid

# (short name, folder) per domain, and the tasks in the order papers print them.
BENCHMARKS: Dict[str, dict] = {
    "office31": {
        "domains": {"A": "amazon", "D": "dslr", "W": "webcam"},
        "tasks": ["A->W", "D->W", "W->D", "A->D", "D->A", "W->A"],
        # Target accuracy (%) as published, by method: (our method name, row label, per task).
        "published": [
            ("source_only", "source only, ResNet-50 (Transfer-Learning-Library)", [75.8, 95.5, 99.0, 79.3, 63.6, 63.8]),
            ("dan", "DAN, AlexNet (Long et al. 2015, Table 1)", [68.5, 96.0, 99.0, 67.0, 54.0, 53.1]),
            ("dan", "DAN, ResNet-50 (Transfer-Learning-Library)", [84.2, 98.4, 100.0, 87.3, 66.9, 65.2]),
            ("dann", "DANN, ResNet-50 (Transfer-Learning-Library)", [91.4, 97.9, 100.0, 83.6, 73.3, 70.4]),
            ("jan", "JAN, ResNet-50 (Transfer-Learning-Library)", [93.7, 98.4, 100.0, 89.4, 69.2, 71.0]),
        ],
    },
    "office-home": {
        "domains": {"Ar": "Art", "Cl": "Clipart", "Pr": "Product", "Rw": "Real_World"},
        "tasks": ["Ar->Cl", "Ar->Pr", "Ar->Rw", "Cl->Ar", "Cl->Pr", "Cl->Rw", "Pr->Ar", "Pr->Cl", "Pr->Rw",
                  "Rw->Ar", "Rw->Cl", "Rw->Pr"],
        "published": [
            ("dan", "DAN, ResNet-50 (DeepDA)", [52.51, 68.48, 74.82, 57.48, 65.71, 67.82, 55.42, 47.51, 75.28,
                                                66.54, 54.36, 79.91]),
            ("dan", "DAN, ResNet-50 (Transfer-Learning-Library)", [45.6, 67.7, 73.9, 57.7, 63.8, 66.0, 54.9, 40.0,
                                                                   74.5, 66.2, 49.1, 77.9]),
        ],
    },
}


def tasks_of(name: str, root: Path) -> List[Tuple[str, str, str]]:
    """(task, source folder: domain, target folder: domain) for every task of the benchmark."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}: expected one of {', '.join(BENCHMARKS)}")
    spec = BENCHMARKS[name]
    missing = [f for f in spec["domains"].values() if not (root / f).is_dir()]
    if missing:
        raise ValueError(f"--root {root}: no folder for {', '.join(missing)} (expected "
                         f"{', '.join(str(root / f) for f in spec['domains'].values())})")
    out = []
    for task in spec["tasks"]:
        s, t = task.split("->")
        out.append((task, f"folder:{root / spec['domains'][s]}", f"folder:{root / spec['domains'][t]}"))
    return out


def benchmark(name: str, root: Path, base: TrainConfig, seeds: int, out: Path, progress: bool = True,
              mode: str = "new") -> Dict[str, List[float]]:
    """Train base.method on every task (``seeds`` seeds each) and write the table. The run-folder
    rules of run_grid.py apply as for dan ablate: ``mode`` new, resume (finished tasks are reused)
    or overwrite."""
    check_seeds(seeds)
    tasks = tasks_of(name, root)
    # every run's settings are checked by run_grid before anything trains
    base = resolve(dataclasses.replace(base, source=tasks[0][1], target=tasks[0][2]))

    def prepare() -> dict:
        for _, _, target in tasks:  # a table of target accuracy needs target labels: refuse before training
            if not discover(target[len("folder:"):], target).labelled:
                raise ValueError(f"{target} has no class folders: the benchmark's table is of target accuracy, "
                                 "which needs target labels")
        return {}

    folders = {task: task.replace("->", "_to_") for task, _, _ in tasks}
    runs = [(task, dataclasses.replace(base, source=source, target=target, seed=seed,
                                       out=str(out / folders[task] / f"seed{seed}")))
            for task, source, target in tasks for seed in range(seeds)]
    return run_grid(runs, out, mode, "a benchmark", groups=folders.values(), prepare=prepare,
                    write=lambda acc: write_results(name, base, acc, out), progress=progress)


def published_rows(name: str, method: str) -> List[Tuple[str, List[float]]]:
    """The published rows to print beside a run of ``method``: that method's, and the source-only
    baseline every table has."""
    return [(label, values) for m, label, values in BENCHMARKS[name]["published"] if m in (method, "source_only")]


def write_results(name: str, base: TrainConfig, acc: Dict[str, List[float]], out: Path) -> None:
    spec = BENCHMARKS[name]
    tasks = spec["tasks"]
    ours = [100 * statistics.mean(acc[t]) for t in tasks]
    est = "" if base.estimator == DEFAULT_ESTIMATOR else f" ({base.estimator} estimator" + (
        f", block size {base.block_size})" if base.block_size else ")")
    rows = [(f"ours: {base.method}{est}, {base.backbone}", ours)] + published_rows(name, base.method)
    seeds = len(next(iter(acc.values())))
    lines = [f"# {name}: target accuracy (%)", "",
             f"ours: {base.method}{est} on {base.backbone} (weights {base.weights}), {seeds} seed(s) per task, "
             f"{base.epochs} epochs x {base.iters_per_epoch} iterations, batch {base.batch_size}, lr {base.lr}"
             f"{f', image size {base.image_size}' if base.image_size else ''}; the other rows as published.", "",
             "| | " + " | ".join(tasks) + " | Avg |", "|---|" + "---|" * (len(tasks) + 1)]
    for label, values in rows:
        lines.append(f"| {label} | " + " | ".join(f"{v:.1f}" for v in values) + f" | {statistics.mean(values):.1f} |")
    if seeds > 1:
        spread = [100 * statistics.stdev(acc[t]) for t in tasks]
        lines.append("| ours, std over seeds | " + " | ".join(f"{v:.1f}" for v in spread) + " | |")
    atomic_write_text(out / "results.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "results.json", json.dumps({"benchmark": name, "tasks": tasks, "ours": acc,
                                                  "published": dict(rows[1:]), "config": base.to_dict()},
                                                 indent=2))
    _plot(name, tasks, rows, out / "results.png")


def _plot(name: str, tasks: List[str], rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(tasks) + 1)
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.35 * len(x) * len(rows) + 2), 4.2))
    for k, (label, values) in enumerate(rows):
        ax.bar(x + (k - (len(rows) - 1) / 2) * width, list(values) + [statistics.mean(values)], width, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(tasks + ["Avg"])
    ax.set_ylabel("target accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(name)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(rows), frameon=False)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
