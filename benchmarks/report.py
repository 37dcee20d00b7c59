"""python -m benchmarks.report: a short benchmark run written up as markdown.

    python -m benchmarks.report --device cpu --out benchmarks/RESULTS_cpu.md
    python -m benchmarks.report --device cuda --out $OUT/RESULTS_gpu.md

Per size: median times of ours and the reference (forward, forward+backward), the ratio
reference/ours, the peers' ratios, the alternative "save gradients in the forward" schedule,
achieved bytes/s against the machine's measured copy bandwidth, and extra memory.
Bytes counted per forward+backward: 16 n d for float32 (read both inputs once, write both
gradients once: 2 (n d) elements in, 2 out); our schedule actually moves 24 n d (the backward reads
the inputs again), so 67% of the copy bandwidth is its ceiling by that count.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

import dan_ext
from dan_ext.linear import backend as _backend

from .cases import implementations, make_inputs, saved_gradient_variant, step

CPU_SIZES = [  # (n, d, m, dtype): DAN sizes first, then n d >= 2^24 for the bandwidth target
    (64, 31, 5, torch.float32), (64, 4096, 33, torch.float32), (256, 31, 5, torch.float32),
    (256, 256, 5, torch.float32), (256, 1024, 5, torch.float32), (256, 1024, 33, torch.float32),
    (256, 4096, 5, torch.float32), (256, 4096, 33, torch.float32), (1024, 1024, 1, torch.float32),
    (256, 1024, 5, torch.float64), (65536, 256, 5, torch.float32), (16384, 1024, 5, torch.float32),
    (4096, 4096, 5, torch.float32),
]
GPU_SIZES = CPU_SIZES[:-3] + [
    (256, 1024, 5, torch.float16), (256, 1024, 5, torch.bfloat16), (65536, 1024, 5, torch.float32),
    (16384, 4096, 5, torch.float32), (65536, 4096, 5, torch.float32), (65536, 4096, 5, torch.bfloat16),
    (65536, 1024, 33, torch.float32),
]


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def median_ms(fn, device, reps, min_seconds=0.2):
    """Median of per-call times after a warm-up; CUDA timed with events."""
    fn()
    sync(device)
    return timed_median_ms(fn, device, reps, min_seconds)


def timed_median_ms(fn, device, reps, min_seconds=0.2):
    """Median per-call time of ``fn`` (already warmed up): at least ``reps`` calls, more (up to 50 reps)
    while they total under min_seconds; CUDA timed with events."""
    times = []
    start_all = time.perf_counter()
    while len(times) < reps or (time.perf_counter() - start_all < min_seconds and len(times) < 50 * reps):
        if device == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def copy_bandwidth(device) -> float:
    """Bytes/s of a large tensor copy, counting bytes read plus bytes written."""
    nbytes = (2 << 30) if device == "cuda" else (256 << 20)
    src = torch.randn(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), device, reps=10)
    return 2 * nbytes / (ms / 1e3)


def extra_memory_bytes(device, xs, xt, m) -> int:
    """Peak memory of one fwd+bwd beyond the inputs and the two gradient buffers. CUDA: measured
    with the caching allocator's peak counter. CPU: the buffers the op allocates, counted."""
    n = min(xs.shape[0], xt.shape[0])
    grads = (xs.numel() + xt.numel()) * xs.element_size()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        out = torch.autograd.grad(dan_ext.mkmmd_linear(xs, xt, kernel_num=m), (xs, xt))
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        del out
        return peak - grads
    # the 0-d loss and the one float64 buffer the plan lays out (stats, gammas, coefficients, distances)
    return xs.element_size() + 8 * _backend.plan(n, n, m, False).total


def time_case(device, n, d, m, dtype, reps=20, peers=True) -> dict:
    xs, xt = make_inputs(n, d, dtype, device)
    impls = implementations(xs, xt, m)
    row = {"n": n, "d": d, "m": m, "dtype": str(dtype).replace("torch.", "")}
    row["ours_fwd_ms"] = median_ms(step(impls["dan_ext"], False), device, reps)
    row["ours_fwdbwd_ms"] = median_ms(step(impls["dan_ext"], True, (xs, xt)), device, reps)
    ref_reps = max(3, reps // 4) if n * d >= 1 << 22 else reps
    row["ref_fwd_ms"] = median_ms(step(impls["reference"], False), device, ref_reps)
    row["ref_fwdbwd_ms"] = median_ms(step(impls["reference"], True, (xs, xt)), device, ref_reps)
    row["speedup_fwd"] = row["ref_fwd_ms"] / row["ours_fwd_ms"]
    row["speedup_fwdbwd"] = row["ref_fwdbwd_ms"] / row["ours_fwdbwd_ms"]
    row["saved_grad_ms"] = median_ms(saved_gradient_variant(xs, xt, m), device, reps)
    row["peers"] = {}
    if peers:
        for name, fn in impls.items():
            if name in ("dan_ext", "reference"):
                continue
            ms = median_ms(step(fn, True, (xs, xt)), device, max(3, reps // 4))
            row["peers"][name] = ms / row["ours_fwdbwd_ms"]
    row["bytes_fwdbwd"] = 4 * n * d * xs.element_size()  # 2 inputs read + 2 gradients written (16 n d in f32)
    row["extra_bytes"] = extra_memory_bytes(device, xs, xt, m)
    row["grad_bytes"] = 2 * n * d * xs.element_size()
    return row


def machine(device) -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    text = (f"CPU {cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"dan_ext {dan_ext.__version__}, THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')}")
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        text += f"; GPU {p.name}, {p.multi_processor_count} SMs, {p.total_memory / 2**30:.0f} GiB"
    return text


def render(device, rows, bandwidth) -> str:
    peers = sorted({k for r in rows for k in r["peers"]})
    out = [f"### {device.upper()}: {machine(device)}", "",
           f"Measured copy bandwidth (read + write): **{bandwidth / 1e9:.1f} GB/s**.", "",
           "| n | d | m | dtype | ours fwd ms | ref fwd ms | ref/ours fwd | ours fwd+bwd ms | ref fwd+bwd ms | "
           "ref/ours fwd+bwd | saved-grad schedule ms | " + " | ".join(f"{p} / ours" for p in peers) +
           (" | " if peers else "") + "GB/s (16nd count) | % of copy BW | extra memory / grads |",
           "|" + "---|" * (15 + len(peers))]
    for r in rows:
        gbs = r["bytes_fwdbwd"] / (r["ours_fwdbwd_ms"] / 1e3)
        peer_cells = [f"{r['peers'][p]:.1f}x" if p in r["peers"] else "n/a" for p in peers]
        out.append("| " + " | ".join([
            str(r["n"]), str(r["d"]), str(r["m"]), r["dtype"], f"{r['ours_fwd_ms']:.3f}", f"{r['ref_fwd_ms']:.3f}",
            f"{r['speedup_fwd']:.1f}x", f"{r['ours_fwdbwd_ms']:.3f}", f"{r['ref_fwdbwd_ms']:.3f}",
            f"{r['speedup_fwdbwd']:.1f}x", f"{r['saved_grad_ms']:.3f}", *peer_cells, f"{gbs / 1e9:.1f}",
            f"{100 * gbs / bandwidth:.0f}%", f"{r['extra_bytes'] / 1024:.1f} KiB / {r['grad_bytes'] / 2**20:.1f} MiB",
        ]) + " |")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=None, help="markdown file to write (default: print only)")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--large-only", action="store_true", help="only the sizes with n d >= 2^24")
    args = ap.parse_args(argv)
    sizes = GPU_SIZES if args.device == "cuda" else CPU_SIZES
    if args.large_only:
        sizes = [s for s in sizes if s[0] * s[1] >= 1 << 24]
    bw = copy_bandwidth(args.device)
    rows = []
    for n, d, m, dt in sizes:
        rows.append(time_case(args.device, n, d, m, dt, reps=args.reps, peers=not args.no_peers))
        r = rows[-1]
        print(f"n={n} d={d} m={m} {r['dtype']}: ours {r['ours_fwdbwd_ms']:.3f} ms, ref {r['ref_fwdbwd_ms']:.3f} ms "
              f"({r['speedup_fwdbwd']:.1f}x), {r['bytes_fwdbwd'] / r['ours_fwdbwd_ms'] / 1e6:.1f} GB/s", flush=True)
    text = render(args.device, rows, bw)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
