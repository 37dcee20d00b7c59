"""``dan plot``: t-SNE of source and target features before and after adaptation, and the
proxy A-distance 2 (1 - 2 err) of a linear domain classifier, as in the paper's Figures 2-3.
The features are those of the penultimate adapted layer (fc7 on digits_cnn and AlexNet, the
bottleneck on the others), of a fixed random sample of each domain; image folders are streamed
through the evaluation transform, so only the sample is ever decoded.

"Before" is a source-only model of the same data and network: given with --before, else found
beside an ablation's run (ABLATE/METHOD/seedN/checkpoint.pt -> ABLATE/source_only/seedN/, looked up
only in that layout, on the resolved path), else trained once and kept in
CHECKPOINT_DIR/before_source_only/. Whichever it is, it must have been trained on the same source,
target, backbone, image size and weights as the checkpoint (BEFORE_MUST_MATCH); another is refused
with one line naming the settings that differ.

Its picture and summary are written by output_files.py (never over a run's files, --overwrite).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from dan.runs.checkpoint import CHECKPOINT, load_checkpoint
from dan.config import TrainConfig, config_differences
from dan.methods import METHODS, get_method
from dan.methods.settings import reset_undeclared
from dan.data.domains import load_domain
from dan.models.networks import build_model
from dan.runs.output_files import figure_outputs, save_figure

FEATURE_LAYER = "fc7"  # of the digit network; in general model.adapted[-2]
BEFORE_MUST_MATCH = ("source", "target", "backbone", "image_size", "weights")


def _model_from(ck: dict):
    cfg = TrainConfig(**ck["config"])
    model = build_model(cfg.backbone, len(ck["classes"]), None, cfg.dropout)
    model.load_state_dict(ck["model"])
    return model.eval(), cfg


@torch.no_grad()
def features(model, x: torch.Tensor, layer: str = FEATURE_LAYER) -> np.ndarray:
    return torch.cat([model(x[i:i + 1024])[1][layer] for i in range(0, len(x), 1024)]).numpy()


@torch.no_grad()
def domain_features(model, domain, indices, layer: str) -> np.ndarray:
    """Features of ``domain``'s samples ``indices`` (in memory or streamed from an image folder);
    samples that cannot be read (images that do not decode) are left out."""
    parts = [model(b.x)[1][layer] for b in domain.eval_batches(indices.tolist()) if b.x is not None]
    if not parts:
        raise ValueError(f"{domain.name}: none of the {len(indices)} sampled images could be decoded")
    return torch.cat(parts).numpy()


def proxy_a_distance(fs: np.ndarray, ft: np.ndarray, seed: int = 0) -> float:
    """2 (1 - 2 err), err the held-out error of a linear source-vs-target classifier."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    x = np.concatenate([fs, ft])
    y = np.concatenate([np.zeros(len(fs)), np.ones(len(ft))])
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    half = len(y) // 2
    scaler = StandardScaler().fit(x[:half])
    clf = LogisticRegression(max_iter=2000).fit(scaler.transform(x[:half]), y[:half])
    err = 1.0 - clf.score(scaler.transform(x[half:]), y[half:])
    return 2.0 * (1.0 - 2.0 * err)


def check_before(before: dict, cfg: TrainConfig, before_path: Path, checkpoint: Path, given: bool) -> None:
    """The before model's stored configuration BEFORE must be of the same data and network as the
    checkpoint's CFG (BEFORE_MUST_MATCH), and a found one a source_only run; else a one-line error."""
    diff = config_differences(before, cfg, BEFORE_MUST_MATCH)
    if not given and before.get("method") != "source_only":
        diff["method"] = (before.get("method"), "source_only")
    if not diff:
        return
    shown = ", ".join(f"{k} {a!r} (checkpoint: {b!r})" for k, (a, b) in diff.items())
    if given:
        raise ValueError(f"--before {before_path} was trained with other settings than --checkpoint {checkpoint}: "
                         f"{shown}; give a source_only run of the same source, target, backbone, image size and "
                         "weights")
    kept = before_path.parent.name == "before_source_only"  # dan plot's own: it may be removed and retrained
    raise ValueError(f"the before model found for --checkpoint {checkpoint}, {before_path}, was trained with other "
                     f"settings: {shown}; pass a matching source_only checkpoint with --before"
                     + (f", or remove {before_path.parent} (which dan plot trained) to train it anew" if kept else ""))


def _find_before(checkpoint: Path, cfg: TrainConfig, ck: dict, progress: bool) -> Path:
    """The ablation's source_only run beside CHECKPOINT, else one trained (once, kept) for no more
    epochs and steps than the checkpoint's model has trained (CK's epoch and step), whatever its
    configuration asks for."""
    run = Path(checkpoint).resolve().parent  # resolved: "." has no parents to walk up
    if run.name == f"seed{cfg.seed}" and run.parent.name == cfg.method:  # an ablation's ABLATE/METHOD/seedN
        sibling = run.parent.parent / "source_only" / run.name / CHECKPOINT
        if sibling.exists():
            return sibling
    from dan.runs.folder import read_finished
    from dan.trainer import train

    kept = run / "before_source_only"
    epochs = max(1, ck["epoch"])
    iters = cfg.iters_per_epoch
    if iters is not None:  # as many steps per epoch as the model took, not what the file claims
        iters = min(iters, max(1, math.ceil(ck["step"] / epochs)))
    # source_only reads none of the adapted method's own settings (--beta-every, ...): they reset
    values = reset_undeclared(dataclasses.asdict(cfg), get_method("source_only"), METHODS.values())
    before = TrainConfig(**{**values, "method": "source_only", "out": str(kept), "epochs": epochs,
                            "iters_per_epoch": iters})
    try:
        read_finished(kept / "result.json", before)  # trained before with these settings: reuse it
    except ValueError:
        # not yet, or interrupted (continued from its checkpoint), or unreadable
        train(before, progress=progress, mode="continue")
    return kept / CHECKPOINT


def plot(checkpoint: Path, before: Optional[Path] = None, out: Optional[Path] = None, progress: bool = True,
         max_points: int = 600, overwrite: bool = False) -> dict:
    """Write OUT (default CHECKPOINT_DIR/tsne.png) and OUT.json (the proxy A-distances). Neither
    replaces an existing file without ``overwrite`` (so a rerun of the default needs it), nor a
    run's own file ever; both are checked before any work and written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    checkpoint = Path(checkpoint)
    out = Path(out) if out is not None else checkpoint.parent / "tsne.png"
    out, _, fmt = figure_outputs(out, "--out", overwrite)
    after_ck = load_checkpoint(checkpoint)  # validated: a checkpoint's configuration is untrusted input
    after_model, cfg = _model_from(after_ck)
    # data is cached where this user caches it, never in a folder a checkpoint names
    cfg = dataclasses.replace(cfg, cache_dir=None, workers=TrainConfig.workers)  # nor a worker count
    before_path = Path(before) if before is not None else _find_before(checkpoint, cfg, after_ck, progress)
    before_ck = load_checkpoint(before_path)
    check_before(before_ck["config"], cfg, before_path, checkpoint, given=before is not None)
    before_model, before_cfg = _model_from(before_ck)
    source = load_domain(cfg.source, cfg.cache_dir, cfg.image_size, cfg.workers)
    target = load_domain(cfg.target, cfg.cache_dir, cfg.image_size, cfg.workers)
    gen = torch.Generator().manual_seed(0)
    idx_s = torch.randperm(len(source), generator=gen)[:max_points]
    idx_t = torch.randperm(len(target), generator=gen)[:max_points]
    layer = after_model.adapted[-2]

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    summary = {"checkpoint": str(checkpoint), "before": str(before_path), "layer": layer}
    before_label = "before (source only)" if before_cfg.method == "source_only" else f"before ({before_cfg.method})"
    for ax, (label, model) in zip(axes, ((before_label, before_model), (f"after ({cfg.method})", after_model))):
        fs, ft = domain_features(model, source, idx_s, layer), domain_features(model, target, idx_t, layer)
        pad = proxy_a_distance(fs, ft)
        points = np.concatenate([fs, ft])  # t-SNE needs perplexity < points (a small folder has few)
        emb = TSNE(n_components=2, init="pca", random_state=0,
                   perplexity=min(30.0, len(points) - 1.0)).fit_transform(points)
        ax.scatter(*emb[:len(fs)].T, s=4, c="#1f77b4", label=f"source ({cfg.source})")
        ax.scatter(*emb[len(fs):].T, s=4, c="#d62728", label=f"target ({cfg.target})")
        ax.set_title(f"{label}: proxy A-distance {pad:.2f}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="best", markerscale=3, fontsize=8)
        summary["pad_before" if label.startswith("before") else "pad_after"] = pad
    fig.suptitle(f"{cfg.source} -> {cfg.target}, {layer} features (t-SNE)")
    fig.tight_layout()
    summary["png"] = str(out)
    try:
        save_figure(fig, out, fmt, summary, overwrite)
    finally:
        plt.close(fig)
    print(f"wrote {out}: proxy A-distance before {summary['pad_before']:.3f}, after {summary['pad_after']:.3f}")
    return summary
