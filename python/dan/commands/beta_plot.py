"""``dan plot-betas``: the kernel weights beta of every penalised layer over training, from a run's
log.json, as a picture (one panel per layer, beta stacked over the kernels) and as numbers: how often
beta sits on a vertex of the simplex (one kernel only), how often its favourite kernel changes from
one update to the next, and which kernels it favours.

Kernel u of m has bandwidth gbar * kernel_mul**(u - m//2) (gbar the batch's mean squared distance):
u = 0 is the narrowest, u = m - 1 the widest, and the single kernel of dan_sk / ddc is the middle one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from dan_ext import DEFAULT_KERNEL_MUL

VERTEX = 0.99  # a beta whose largest weight is at least this is "one kernel"


def kernel_labels(m: int, kernel_mul: float) -> list:
    return [f"{kernel_mul ** (u - m // 2):g} gbar" for u in range(m)]


def beta_traces(run_dir: Path) -> Tuple[Dict[str, Tuple[np.ndarray, np.ndarray]], dict]:
    """{layer: (steps [T], betas [T, m])} of a run, every beta update when the log has them
    (beta_trace_LAYER), else the beta at the end of each epoch; and the run's configuration."""
    run_dir = Path(run_dir)
    log, result = run_dir / "log.json", run_dir / "result.json"
    if not log.is_file():
        raise ValueError(f"--run {run_dir}: no log.json there (is it a dan train run folder?)")
    try:
        history = json.loads(log.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"--run {run_dir}: cannot read log.json ({err})") from None
    config = {}
    if result.is_file():
        try:
            config = json.loads(result.read_text()).get("config", {})
            if not isinstance(config, dict):
                raise ValueError("its config is not a dict")
        except (OSError, ValueError, AttributeError) as err:
            raise ValueError(f"--run {run_dir}: cannot read result.json ({err})") from None
    try:  # log.json is read back from disk, where anything may have been written
        layers = [k[len("beta_"):] for k in (history[0] if history else {}) if k.startswith("beta_")
                  and not k.startswith("beta_trace_")]
        traces = {}
        for layer in layers:
            if all(f"beta_trace_{layer}" in row for row in history):
                rows = [r for row in history for r in row[f"beta_trace_{layer}"]]
                steps = np.array([r[0] for r in rows], dtype=np.int64)
                betas = np.array([r[1:] for r in rows], dtype=np.float64)
            else:
                steps = np.array([row["step"] for row in history], dtype=np.int64)
                betas = np.array([row[f"beta_{layer}"] for row in history], dtype=np.float64)
            if len(steps):
                traces[layer] = (steps, betas.reshape(len(steps), -1))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise ValueError(f"--run {run_dir}: log.json is not a dan run's log ({type(err).__name__}: {err})") from None
    return traces, config


def summarise(betas: np.ndarray) -> dict:
    """Numbers that say how beta behaved over a run's updates [T, m]."""
    top = betas.argmax(axis=1)
    return {
        "updates": int(len(betas)),
        "mean_beta": betas.mean(axis=0).round(4).tolist(),
        "at_vertex": float((betas.max(axis=1) >= VERTEX).mean()),
        "favourite_changes": float((top[1:] != top[:-1]).mean()) if len(top) > 1 else 0.0,
        "favourite_share": (np.bincount(top, minlength=betas.shape[1]) / len(top)).round(4).tolist(),
        "entropy_nats": float(np.mean(-(betas * np.log(np.clip(betas, 1e-12, None))).sum(axis=1))),
    }


def _check_beta_solved(run_dir: Path, config: dict) -> None:
    """A run of a method with kernel weights whose beta traces are all empty never solved beta
    (it stopped before its first --beta-every steps): say so, rather than that it has none."""
    history = json.loads((run_dir / "log.json").read_text())
    last = history[-1] if history else {}
    if any(k.startswith("beta_trace_") for k in last):
        every = config.get("beta_every", "?")
        raise ValueError(f"--run {run_dir}: beta was never solved in this run: it ran {last.get('step', '?')} "
                         f"step(s), and beta is solved every {every} (--beta-every); train at least {every} steps "
                         "to plot it")


def plot_betas(run_dir: Path, out: Optional[Path] = None, overwrite: bool = False) -> dict:
    """Write OUT (default RUN/betas.png) and OUT.json with summarise() per layer. Neither replaces
    an existing file without ``overwrite`` (so a rerun of the default needs it), nor one of the
    run's own files (log.json, result.json, ...) ever; both are checked before drawing and written
    atomically (output_files.write_outputs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dan.runs.output_files import figure_outputs, save_figure

    run_dir = Path(run_dir)
    traces, config = beta_traces(run_dir)
    if not traces:
        _check_beta_solved(run_dir, config)
        raise ValueError(f"--run {run_dir}: method {config.get('method', '?')} has no kernel weights (beta) to plot "
                         "(only the multi-kernel MK-MMD methods have them)")
    m = next(iter(traces.values()))[1].shape[1]
    if m == 1:
        raise ValueError(f"--run {run_dir}: method {config.get('method', '?')} has one kernel; its beta is always 1")
    out, js, fmt = figure_outputs(Path(out) if out is not None else run_dir / "betas.png", "--out", overwrite)
    labels = kernel_labels(m, float(config.get("kernel_mul", DEFAULT_KERNEL_MUL)))
    colours = plt.cm.viridis(np.linspace(0, 1, m))
    fig, axes = plt.subplots(len(traces), 1, figsize=(8, 1.9 * len(traces) + 0.8), sharex=True, squeeze=False)
    summary = {"run": str(run_dir), "method": config.get("method"), "kernels": labels, "layers": {}}
    for ax, (layer, (steps, betas)) in zip(axes[:, 0], traces.items()):
        ax.stackplot(steps, betas.T, colors=colours, labels=labels, step="post")
        s = summarise(betas)
        summary["layers"][layer] = s
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"{layer}\nbeta")
        ax.set_title(f"{layer}: one kernel at {100 * s['at_vertex']:.0f}% of {s['updates']} updates, favourite "
                     f"kernel changes at {100 * s['favourite_changes']:.0f}%", fontsize=9)
    axes[-1, 0].set_xlabel("training step")
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="bandwidth")
    fig.suptitle(f"beta per layer: {config.get('method', '?')} {config.get('source', '')} -> "
                 f"{config.get('target', '')}, seed {config.get('seed', '?')}", fontsize=10)
    fig.tight_layout()
    summary["png"], summary["json"] = str(out), str(js)
    try:
        save_figure(fig, out, fmt, summary, overwrite)
    finally:
        plt.close(fig)
    return summary
