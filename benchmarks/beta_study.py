"""python -m benchmarks.beta_study ABLATION [ABLATION ...] --out DIR: what learned beta did in
finished ``dan ablate`` folders, to answer whether learning beta helps and why (issue 11).

For every method with learned beta, per layer over all seeds (dan.commands.beta_plot.summarise): the share
of updates on one kernel, how often the favourite kernel changed between updates, which kernels
were favoured, and the mean beta. One picture of beta over training per ablation (seed 0 of dan).

For runs on the in-memory digit domains, the kernels at the end of training: the trained network's
features of 1,024 source and 1,024 target images per layer, and for each kernel u alone the MMD
estimate d_u and the norm of its gradient with respect to the features (what that kernel pushes
with), averaged over 16 random pairings of the quad-tuples. The learned beta's mixture and the
uniform mixture are given beside, as ratios to the single middle kernel (dan_sk's kernel).
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch

import dan_ext
from dan.commands.beta_plot import beta_traces, kernel_labels, plot_betas, summarise
from dan.runs.checkpoint import CHECKPOINT, load_checkpoint
from dan.data import DIGIT_DOMAINS, load_domain
from dan.methods import METHODS
from dan.methods.mkmmd import CONFIGS
from dan.commands.plot import _model_from

PAIRINGS = 16
POINTS = 1024


def _learns_betas(method: str) -> bool:
    return method in CONFIGS and CONFIGS[method][0].learn_betas


def _runs(ablation: Path, method: str):
    return sorted(p for p in (ablation / method).glob("seed*") if (p / "result.json").is_file())


def beta_table(ablation: Path) -> tuple:
    """({method: {layer: pooled summary over seeds}}, {method: (runs that learned beta, their
    kernel_mul)}) for the methods that learn beta."""
    out, learned = {}, {}
    for method in (m for m in METHODS if _learns_betas(m)):
        pooled = {}
        for run in _runs(ablation, method):
            traces, config = beta_traces(run)
            if config.get("fixed_betas"):
                continue  # --fixed-betas: nothing was learned
            runs, _ = learned.setdefault(method, ([], config.get("kernel_mul", 2.0)))
            runs.append(run)
            for layer, (_, betas) in traces.items():
                pooled.setdefault(layer, []).append(summarise(betas))
        if pooled:
            out[method] = {layer: {
                "seeds": len(ss),
                "updates": sum(s["updates"] for s in ss),
                "at_vertex": statistics.mean(s["at_vertex"] for s in ss),
                "favourite_changes": statistics.mean(s["favourite_changes"] for s in ss),
                "favourite_share": np.mean([s["favourite_share"] for s in ss], axis=0).round(3).tolist(),
                "mean_beta": np.mean([s["mean_beta"] for s in ss], axis=0).round(3).tolist(),
            } for layer, ss in pooled.items()}
    return out, learned


def _grad(fs, ft, bandwidths, betas) -> tuple:
    fs, ft = fs.clone().requires_grad_(True), ft.clone().requires_grad_(True)
    value = dan_ext.mkmmd_linear(fs, ft, bandwidths, betas)
    gs, gt = torch.autograd.grad(value, (fs, ft))
    return float(value.detach()), gs, gt


@torch.no_grad()
def _features(model, x):
    return {k: v.double() for k, v in model(x)[1].items()}


def kernel_analysis(run: Path) -> dict:
    """Per layer: d_u and gradient norm of each kernel alone, of the run's final beta and of uniform."""
    ck = load_checkpoint(run / CHECKPOINT)
    model, cfg = _model_from(ck)
    source, target = load_domain(cfg.source, cfg.cache_dir), load_domain(cfg.target, cfg.cache_dir)
    gen = torch.Generator().manual_seed(0)
    m, mul = CONFIGS["dan"][0].kernel_num, cfg.kernel_mul
    final = json.loads((run / "result.json").read_text())["betas"]
    out = {}
    fs_all = _features(model, source.x[torch.randperm(len(source), generator=gen)[:POINTS]])
    ft_all = _features(model, target.x[torch.randperm(len(target), generator=gen)[:POINTS]])
    for layer in model.adapted:
        fs, ft = fs_all[layer], ft_all[layer]
        gbar = dan_ext.mean_pair_sqdist(fs, ft)
        bw = dan_ext.default_bandwidths(gbar, m, mul)
        mixes = {f"k{u}": torch.eye(m, dtype=torch.float64)[u] for u in range(m)}
        mixes["uniform"] = torch.full((m,), 1.0 / m, dtype=torch.float64)
        if _learns_betas(cfg.method) and cfg.fixed_betas is None:
            mixes["learned"] = torch.tensor(final[layer], dtype=torch.float64)
        values = {k: [] for k in mixes}
        grads = {k: [] for k in mixes}
        power = []
        for _ in range(PAIRINGS):
            ps, pt = torch.randperm(len(fs), generator=gen), torch.randperm(len(ft), generator=gen)
            # what the QP weighs: each kernel's estimate over its standard deviation (test power)
            st = dan_ext.mkmmd_linear_stats(fs[ps], ft[pt], bw, mixes["uniform"], kernel_num=m, covariance=True)
            power.append((st.per_kernel / st.covariance.diagonal().clamp_min(1e-300).sqrt()).tolist())
            for k, b in mixes.items():
                v, gs, gt = _grad(fs[ps], ft[pt], bw, b)
                g = torch.empty(len(fs) + len(ft), fs.shape[1], dtype=torch.float64)
                g[ps], g[len(fs) + pt] = gs, gt  # back to the points' own order
                values[k].append(v)
                grads[k].append(g)
        out[layer] = {}
        for k in mixes:
            g = torch.stack(grads[k])
            norms = g.flatten(1).norm(dim=1)
            # coherence: |mean gradient| / mean |gradient| over the pairings; 1 when every pairing
            # pushes the points the same way, about 1/sqrt(PAIRINGS) when the push is pairing noise
            out[layer][k] = {"d": statistics.mean(values[k]), "grad": float(norms.mean()),
                             "coherence": float(g.mean(0).norm() / norms.mean()) if norms.mean() > 0 else 0.0}
        out[layer]["gbar"] = float(gbar)
        out[layer]["power"] = np.mean(power, axis=0).tolist()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ablations", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--kernels-of", default="dan,dan_uniform", help="methods whose final kernels are analysed")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {}
    lines = ["# What learned beta did", ""]
    for ab in args.ablations:
        acc = json.loads((ab / "results.json").read_text())
        table, learned = beta_table(ab)
        report[str(ab)] = {"accuracy": acc, "betas": table, "kernels": {}}
        lines += [f"## {ab.name}", "", "| method | target accuracy (%) per seed | mean |", "|---|---|---|"]
        lines += [f"| {m} | {', '.join(f'{100 * a:.1f}' for a in v)} | {100 * statistics.mean(v):.1f} |"
                  for m, v in acc.items()]
        for method, layers in table.items():
            runs, kernel_mul = learned[method]
            labels = kernel_labels(len(next(iter(layers.values()))["mean_beta"]), kernel_mul)
            lines += ["", f"{method}: beta over {next(iter(layers.values()))['seeds']} seeds (kernels {', '.join(labels)})",
                      "", "| layer | updates | on one kernel | favourite changes | favourite share | mean beta |",
                      "|---|---|---|---|---|---|"]
            lines += [f"| {layer} | {s['updates']} | {100 * s['at_vertex']:.0f}% | {100 * s['favourite_changes']:.0f}% | "
                      f"{s['favourite_share']} | {s['mean_beta']} |" for layer, s in layers.items()]
            plot_betas(runs[0], args.out / f"betas_{ab.name}_{method}.png")
        for method in args.kernels_of.split(","):
            for run in _runs(ab, method):
                cfg = json.loads((run / "result.json").read_text())["config"]
                if cfg["source"] not in DIGIT_DOMAINS or cfg["target"] not in DIGIT_DOMAINS:
                    continue
                report[str(ab)]["kernels"][f"{method}/{run.name}"] = kernel_analysis(run)
        kern = report[str(ab)]["kernels"]
        if kern:
            m = sum(k.startswith("k") for k in next(iter(next(iter(kern.values())).values())))
            ks, mid = [f"k{u}" for u in range(m)], f"k{m // 2}"
            lines += ["", f"Kernels at the end of training ({', '.join(kern)}): per layer, each kernel's gradient "
                      f"norm relative to the middle kernel {mid} (dan_sk's), then its coherence over "
                      f"{PAIRINGS} pairings (1 = every pairing pushes the same way, "
                      f"{PAIRINGS ** -0.5:.2f} = noise); mean over runs", "",
                      "| layer | " + " | ".join(ks) + " | uniform | learned |", "|---|" + "---|" * (m + 2)]
            for layer in next(iter(kern.values())):
                cells = []
                for k in ks + ["uniform", "learned"]:
                    per = [r[layer] for r in kern.values() if k in r[layer] and r[layer][mid]["grad"] > 0]
                    cells.append(f"{statistics.mean(r[k]['grad'] / r[mid]['grad'] for r in per):.2f} / "
                                 f"{statistics.mean(r[k]['coherence'] for r in per):.2f}" if per else "-")
                lines.append(f"| {layer} | " + " | ".join(cells) + " |")
            lines += ["", "Test power d_u / sd_u of each kernel at the end of training (what DAN's QP maximises), "
                      "mean over runs", "", "| layer | " + " | ".join(ks) + " |", "|---|" + "---|" * m]
            for layer in next(iter(kern.values())):
                pw = np.mean([r[layer]["power"] for r in kern.values()], axis=0)
                lines.append(f"| {layer} | " + " | ".join(f"{v:.3f}" for v in pw) + " |")
        lines.append("")
    (args.out / "beta_study.md").write_text("\n".join(lines))
    (args.out / "beta_study.json").write_text(json.dumps(report, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
