"""``dan classic-ablate``: every classical method (and "none", no adaptation) on one pair of
features, over seeds where a method's result depends on them (classic_params.depends_on_seed; the
others run once), written up as results.md (mean +- std of target accuracy), results.json and a
bar plot results.png in a table folder (dan.runs.folder's kind "table", as dan ablate's: an
existing table is refused unless --overwrite).

A command of its own rather than ``dan classic --methods``: like dan train and dan ablate, one
command writes one kind of folder (a run's result.json, or a table), and the flags differ
(--method and --seed for one run, --methods and --seeds for the table)."""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional

from dan.commands import classic_params as P
from dan.commands.classic import features_folder, features_summary, read_features, run_one
from dan.runs.grid import check_seeds

WHAT = {"none": "no adaptation", "tca": "marginal MMD", "jda": "joint MMD (pseudo labels)",
        "bda": "balanced MMD (pseudo labels)", "tjm": "marginal MMD + source row selection",
        "sa": "subspace alignment", "coral": "covariance alignment", "gfk": "geodesic flow kernel"}


def check_methods(methods: List[str]) -> List[str]:
    names = [m.strip() for m in methods]
    if names == ["all"]:
        return list(WHAT)
    if not names or any(not m for m in names):
        raise ValueError(f"--methods must be all or comma-separated names of {', '.join(WHAT)}, got "
                         f"{','.join(methods)!r}")
    for m in names:
        P.check_method(m, "--methods")
    repeated = sorted({m for m in names if names.count(m) > 1})
    if repeated:
        raise ValueError(f"--methods names {', '.join(repeated)} more than once")
    return names


def classic_ablate(methods: List[str], seeds: int, out, features: Optional[str] = None,
                   extract: Optional[dict] = None, values: Optional[dict] = None, classifier: str = "1nn",
                   normalize: str = "l2", overwrite: bool = False, progress: bool = True,
                   command: str = "") -> Dict[str, dict]:
    """Run every method x seed and write the table; returns {method: {"accuracy": [...], ...}}."""
    from dan.runs.folder import TABLE_FILES, RunFolder

    methods = check_methods(methods)
    check_seeds(seeds)
    P.check_classifier(classifier)
    values = dict(values or {})
    P.refuse_unused(values, methods)  # a flag that one method takes applies to it, and is ignored by the others
    if normalize not in P.NORMALISATIONS:
        raise ValueError(f"--normalize must be one of {', '.join(P.NORMALISATIONS)}, got {normalize!r}")
    out = Path(out)
    with RunFolder(out, "overwrite" if overwrite else "continue", what="--out", kind="table") as folder:
        if not overwrite and any((out / f).exists() for f in TABLE_FILES):
            raise ValueError(f"--out {out} already holds a table ({', '.join(f for f in TABLE_FILES if (out / f).exists())}"
                             "): pass --overwrite to replace it, or choose another --out")
        extract = dict(extract or {})
        data = read_features(features_folder(features, extract, progress))
        if data["yt"] is None:  # named as the user gave the target: by --target, or inside --features
            flag = f"--target {extract['target']}" if extract.get("target") else f"--features {data['folder']}"
            raise ValueError(f"{flag}: the target's rows have no labels, so there is no target accuracy to tabulate")
        rows = len(data["xs"]) + len(data["xt"])
        table: Dict[str, dict] = {}
        for m in methods:
            random = P.depends_on_seed(m, values, classifier, rows)
            runs = []
            for seed in range(seeds if random else 1):
                start = time.perf_counter()
                r = run_one(m, data, values, classifier, normalize, seed)
                r["seconds"] = time.perf_counter() - start
                runs.append(r)
                acc = r["target_accuracy"]
                print(f"{m} seed {seed}: target accuracy {'n/a' if acc is None else f'{acc:.4f}'} "
                      f"({r['seconds']:.1f} s)", flush=True)
            table[m] = {"accuracy": [r["target_accuracy"] for r in runs], "seeds": len(runs), "depends_on_seed": random,
                        "seconds": [round(r["seconds"], 2) for r in runs], "params": runs[0]["params"]}
        summary = {"command": command, "classifier": classifier, "normalize": normalize, "seeds": seeds,
                   "features": features_summary(data), "methods": table}
        folder.accept()  # only now: a refused setting or an interruption leaves an earlier table as it was
        write_table(out, summary)
    return table


def mean_std(values: List[float]) -> tuple:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def write_table(out: Path, summary: dict) -> None:
    """results.md, results.json and results.png, each atomically."""
    from dan.runs.atomic import atomic_write, atomic_write_text

    f = summary["features"]
    s, t = f["source"], f["target"]
    lines = [f"# {s['domain']} -> {t['domain']}: target accuracy (%) of the classical methods", "",
             f"Features: {s['layer']} of {s['backbone']} (weights {s['weights']}"
             + (f", checkpoint {s['checkpoint']}" if s.get("checkpoint") else "") + f"), {s['width']} per row, "
             f"images: {s['image_transform']}; {s['rows']} source and {t['rows']} target rows; rows normalised: "
             f"{summary['normalize']}; classifier {summary['classifier']}. Seeds: up to {summary['seeds']}, only for "
             "methods whose result depends on them (Nystrom landmarks, BDA's estimated mu, a seeded classifier); "
             "the others ran once.", ""]
    if summary.get("command"):
        lines += ["```", summary["command"], "```", ""]
    lines += ["| method | what | target accuracy | runs | per seed | seconds per run | parameters |",
              "|---|---|---|---|---|---|---|"]
    for m, row in summary["methods"].items():
        mu, sd = mean_std(row["accuracy"])
        # random_state is each run's seed (the runs column), not a setting
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items() if k != "random_state") or "-"
        runs = f"{row['seeds']}" if row["depends_on_seed"] else "1 (no randomness)"
        lines.append(f"| {m} | {WHAT[m]} | {100 * mu:.1f} +- {100 * sd:.1f} | {runs} | "
                     f"{', '.join(f'{100 * a:.1f}' for a in row['accuracy'])} | "
                     f"{statistics.mean(row['seconds']):.1f} | {params} |")
    atomic_write_text(out / "results.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["methods"])
    stats = [mean_std(summary["methods"][m]["accuracy"]) for m in names]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(names)), 3.5))
    colours = ["#999999" if m == "none" else "#4c72b0" for m in names]
    ax.bar(names, [100 * a for a, _ in stats], yerr=[100 * e for _, e in stats], capsize=4, color=colours)
    if "none" in summary["methods"]:
        ax.axhline(100 * stats[names.index("none")][0], color="#999999", linestyle="--", linewidth=1)
    ax.set_ylabel("target accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{s['domain']} -> {t['domain']}: {s['layer']} of {s['backbone']}")
    fig.tight_layout()
    try:
        atomic_write(out / "results.png", lambda fh: fig.savefig(fh, format="png", dpi=120))
    finally:
        plt.close(fig)
