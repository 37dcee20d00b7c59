"""One picture of the classical methods beside the deep ones: a panel per domain pair, the bars of
``dan classic-ablate`` tables (mean +- std over the seeds where a method depends on them) and, in
another colour, the fine-tuned deep methods measured on exactly the same pair and input size, as
benchmarks/RESULTS.md reports them (DEEP below, each with its section). A pair with no deep number
at that size gets none.

    python -m benchmarks.classic_figure --out benchmarks/classic_methods.png \\
        "printed32 -> mnist32=runs/tab/p2m" "mnist32 -> digits32=runs/tab/m2d" \\
        "printed -> digits (8x8)=runs/tab/p2d8" "mnist -> digits (8x8)=runs/tab/m2d8"
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

# (mean, std) target accuracy in %, copied from benchmarks/RESULTS.md
DEEP = {
    # "DAN beside Deep CORAL, DANN and JAN at image level": efficientnet_lite0 fine-tuned, 32 px, 5 seeds
    "printed32 -> mnist32": {"source_only": (43.3, 1.8), "dan": (52.4, 4.7), "coral": (50.3, 2.2),
                             "dann": (52.4, 3.5), "jan": (52.6, 4.1)},
    # "DAN beside Deep CORAL, DANN and JAN on offline digits": digits_cnn, 100 epochs, 5 seeds
    "printed -> digits (8x8)": {"source_only": (46.2, 3.6), "dan": (60.2, 2.0), "coral": (65.1, 2.2),
                                "dann": (64.1, 6.8), "jan": (60.9, 4.2)},
    # "DAN on offline digits": digits_cnn, 20 epochs, 3 seeds
    "mnist -> digits (8x8)": {"source_only": (80.4, 0.4), "dan": (87.7, 1.9)},
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("panels", nargs="+", help="TITLE=TABLE_FOLDER (a dan classic-ablate --out)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.panels), figsize=(4.2 * len(args.panels), 3.8), sharey=True)
    for ax, panel in zip(list(axes) if len(args.panels) > 1 else [axes], args.panels):
        title, folder = panel.split("=", 1)
        methods = json.loads((Path(folder) / "results.json").read_text())["methods"]
        names, means, stds, colours = [], [], [], []
        for m, row in methods.items():
            acc = [100 * a for a in row["accuracy"]]
            names.append(m)
            means.append(statistics.mean(acc))
            stds.append(statistics.stdev(acc) if len(acc) > 1 else 0.0)
            colours.append("#999999" if m == "none" else "#4c72b0")
        for m, (mu, sd) in DEEP.get(title, {}).items():
            names.append(f"deep {m}")
            means.append(mu)
            stds.append(sd)
            colours.append("#dd8452")
        ax.bar(names, means, yerr=stds, capsize=3, color=colours)
        ax.tick_params(axis="x", labelrotation=60, labelsize=8)
        ax.set_title(title + ("" if title in DEEP else "\n(no deep number at this size)"), fontsize=9)
        ax.set_ylim(0, 100)
    (axes[0] if len(args.panels) > 1 else axes).set_ylabel("target accuracy (%)")
    fig.suptitle("classical methods (blue; grey: no adaptation) and fine-tuned deep methods (orange)", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
