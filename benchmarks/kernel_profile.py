"""python -m benchmarks.kernel_profile: per-kernel CUDA times of one forward+backward from the
torch profiler, and each kernel's bandwidth for the bytes it must move, against a measured copy.

The report's timings are event-to-event around Python calls and so include host-side launch
gaps; this isolates the kernels. Bytes: pair_sqdist reads both [n, d] inputs (2 n d elements),
pair_grad reads them again and writes both gradients (4 n d elements).
"""
from __future__ import annotations

import argparse
import re
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

import dan_ext

from .cases import make_inputs
from .report import copy_bandwidth


def kernel_times(n, d, m, dtype, reps=10):
    xs, xt = make_inputs(n, d, dtype, "cuda")
    for _ in range(3):
        torch.autograd.grad(dan_ext.mkmmd_linear(xs, xt, kernel_num=m), (xs, xt))
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            torch.autograd.grad(dan_ext.mkmmd_linear(xs, xt, kernel_num=m), (xs, xt))
        torch.cuda.synchronize()
    totals = defaultdict(float)
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA:
            totals[ev.name] += getattr(ev, "device_time_total", None) or getattr(ev, "cuda_time_total", 0.0)
    return {k: v / reps for k, v in totals.items()}, xs.element_size()


def bytes_moved(kernel_name: str, n: int, d: int, elem: int) -> int:
    """Bytes a kernel must move at least: the distance pass reads both inputs (2 n d elements), the
    gradient pass reads them again and writes both gradients (4 n d); 0 for the O(n) kernels."""
    if "sqdist" in kernel_name:
        return 2 * n * d * elem
    if "pair_grad" in kernel_name:
        return 4 * n * d * elem
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="65536x4096x5xfloat32,65536x1024x5xfloat32,65536x4096x5xbfloat16")
    args = ap.parse_args(argv)
    if not (torch.cuda.is_available() and dan_ext.cuda_kernels_available()):
        raise SystemExit("kernel_profile: needs a CUDA device and dan_ext built with its CUDA kernels")
    bw = copy_bandwidth("cuda")
    print(f"GPU {torch.cuda.get_device_name()}; copy bandwidth (read + write) {bw / 1e9:.0f} GB/s")
    print("| n | d | m | dtype | kernel | us per call | bytes it must move | GB/s | % of copy |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in args.sizes.split(","):
        n, d, m, dt = spec.split("x")
        n, d, m, dtype = int(n), int(d), int(m), getattr(torch, dt)
        times, elem = kernel_times(n, d, m, dtype)
        for name, us in sorted(times.items(), key=lambda kv: -kv[1]):
            found = re.search(r"(\w+_kernel)", name)
            short = found.group(1) if found else name[:40]
            nbytes = bytes_moved(name, n, d, elem)
            if nbytes:
                rate = nbytes / (us * 1e-6)
                cells = f"{nbytes / 1e6:.0f} MB | {rate / 1e9:.0f} | {100 * rate / bw:.0f}%"
            else:
                cells = "- | - | -"
            print(f"| {n} | {d} | {m} | {dt} | {short} | {us:.1f} | {cells} |")

if __name__ == "__main__":
    main()
