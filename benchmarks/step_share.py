"""python -m benchmarks.step_share [--backbone resnet50 --device cuda --amp]: how much of a DAN
training step the MK-MMD costs. Times whole SGD steps (Trainer.step_on: forward, loss, backward,
optimizer step, beta bookkeeping) of `source_only` and of `dan` on the same random batches, and
reports the medians, images per second and the extra time of `dan` as a share of its step; and,
because that difference is within the noise of a CPU step, the op alone on the step's feature
shapes (forward with the beta statistics, and backward, every adapted layer) as a share too.

Random weights and random inputs: speed does not depend on them. Steps of the two methods
alternate, so drift of a shared machine falls on both.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from dan.config import TrainConfig
from dan.data import Domain
from dan.trainer import Trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _op_ms(tr: Trainer, xs, xt, device, calls: int = 200) -> float:
    """The op alone: forward (with the beta statistics) and backward of every adapted layer's
    MK-MMD on features of the step's shapes, median per step in ms."""
    import dan_ext

    with torch.no_grad():
        _, feats = tr.model(torch.cat([xs, xt]))
    n = len(xs)
    ts = []
    for k in range(calls + 10):
        _sync(device)
        t = time.perf_counter()
        pen = tr.penalty  # DANLoss: the trainer's MK-MMD penalty
        for layer in pen.layers:
            f = feats[layer].detach().float().requires_grad_(True)
            st = dan_ext.mkmmd_linear_stats(f[:n], f[n:], None, pen.solvers[layer].tensor(),
                                            kernel_num=pen.kernel_num, kernel_mul=pen.kernel_mul,
                                            covariance=pen.learn)
            st.loss.backward()
        _sync(device)
        if k >= 10:
            ts.append(time.perf_counter() - t)
    return 1e3 * statistics.median(ts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=32, help="per domain")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", action="store_true")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per method per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    n, s = args.batch_size, args.image_size
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2 * n, 3, s, s, generator=gen)
    y = torch.randint(0, 31, (n,), generator=gen)
    domain = Domain("random", x[:n], y, [str(i) for i in range(31)])
    xs, ys, xt = x[:n].to(device), y.to(device), x[n:].to(device)

    trainers = {}
    for method in ("source_only", "dan"):
        cfg = TrainConfig(source="random", target="random", method=method, backbone=args.backbone, weights="none",
                          batch_size=n, epochs=1, lr=0.003, device=args.device, amp=args.amp, out="/nonexistent")
        trainers[method] = Trainer(cfg, domain, domain, progress=False)
        for _ in range(args.warmup):
            trainers[method].step_on(xs, ys, xt)
    times = {m: [] for m in trainers}
    for _ in range(args.rounds * args.steps):
        for method, tr in trainers.items():  # alternate step by step
            _sync(device)
            t = time.perf_counter()
            tr.step_on(xs, ys, xt)
            _sync(device)
            times[method].append(time.perf_counter() - t)
    med = {m: statistics.median(v) for m, v in times.items()}
    op_ms = _op_ms(trainers["dan"], xs, xt, device)
    share = (med["dan"] - med["source_only"]) / med["dan"]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or 'CPU'}, " \
        f"{torch.get_num_threads()} threads"
    report = {"device": where, "backbone": args.backbone, "image_size": s, "batch_per_domain": n, "amp": args.amp,
              "step_ms": {m: round(1e3 * v, 2) for m, v in med.items()},
              "images_per_s": {m: round(2 * n / v, 1) for m, v in med.items()},
              "mkmmd_share_of_dan_step": round(share, 4),
              "mkmmd_op_ms": round(op_ms, 4), "mkmmd_op_share": round(op_ms / (1e3 * med["dan"]), 5), "steps_timed": len(times["dan"]), "torch": torch.__version__}
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
