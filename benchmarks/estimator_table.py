"""python -m benchmarks.estimator_table: the non-linear estimators of dan_ext.mkmmd against the
float32 reference and the materialised peers, time and peak memory, written up as markdown.

    python -m benchmarks.estimator_table --out benchmarks/ESTIMATORS_cpu.md --device cpu
    python -m benchmarks.estimator_table --out $OUT/ESTIMATORS_gpu.md --device cuda
    python -m benchmarks.estimator_table --quick --out /tmp/quick.md      # n = 32, 256 at d = 256

Per (estimator, n, d) and implementation, forward + backward (gradients w.r.t. both inputs), float32,
m = 5 kernels:
  dan_ext    dan_ext.mkmmd(estimator=...) (the fused op: O(n d) memory plus one stripe)
  reference  dan_ext.estimators.reference.mkmmd in float32 (materialises its distances and kernels)
  tllib      benchmarks.peers.tllib_mkmmd: linear=True is the peer of "shifted", linear=False of "unbiased"
  deepda     benchmarks.peers.deepda_mmd: the peer of "biased"
  cdist      benchmarks.peers.quadratic_mkmmd: DeepDA's statistic from torch.cdist (no [N, N, d] tensor,
             only N x N matrices): the leanest materialised form, which still runs where the others cannot
(block has no published peer here, only the reference.)

Every case runs in a fresh subprocess (``--worker``): it imports, builds the inputs, makes one tiny call of
the same implementation (lazy loading, thread pools), notes its resident set, then makes one call at full
size and the timed ones. time ms: the median of the timed calls (at least --reps, more while they take
under 0.2 s). peak MB: on CPU the peak RSS during the full-size calls less the RSS noted before them, so it
counts what the calls allocate (the two gradient tensors, 8 n d bytes, included), not the imports or the
inputs. The peak is /proc/self/status VmHWM, reset to the current RSS just before the calls (clear_refs);
resource.getrusage's ru_maxrss only where that is unavailable, as it is no use alone here: a worker
started by a large process (pytest with torch loaded) inherits that process's RSS as its ru_maxrss floor
(vfork/fork + exec). On CUDA: torch.cuda.max_memory_allocated over the memory allocated before the calls.

Skipped, with the reason in the table: an implementation whose materialised tensors would exceed
--max-gb (materialised_bytes), and a case estimated to take more than --max-seconds a call (the static
cost model estimate_seconds, rescaled by the last measured case of the same implementation and estimator
once one took over 50 ms). A worker that runs past its time limit or fails is reported as such.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from .report import timed_median_ms

ESTIMATORS = ("shifted", "block", "unbiased", "biased")
NS = (32, 256, 2048, 16384)  # rows per domain
DS = (256, 2048)
QUICK_NS, QUICK_DS = (32, 256), (256,)
M = 5  # kernels (tllib's five alphas, DeepDA's kernel_num)
IMPLS = ("dan_ext", "reference", "tllib", "deepda", "cdist")
PEERS = {  # the implementations each estimator is compared with, besides dan_ext
    "shifted": ("reference", "tllib"),
    "block": ("reference",),
    "unbiased": ("reference", "tllib"),
    "biased": ("reference", "deepda", "cdist"),
}
MAX_MATERIALISED_GB = 2.0
CPU_MAX_SECONDS = 60.0  # the pytest rows skip dan_ext cases estimated to take longer a call on the CPU

# Rates of the static cost model, per CPU thread (deliberately modest: a shared 2-core machine).
GEMM_FLOPS_PER_THREAD = 20e9
ELEMENTS_PER_THREAD = 0.5e9     # elementwise passes over float32 values (memory-bound)
GIB = float(1 << 30)

ROOT = Path(__file__).resolve().parents[1]


def grid(quick: bool = False, ns=None, ds=None, estimators=ESTIMATORS):
    """(estimator, n, d) in table order: estimator-major, n and d ascending."""
    ns = tuple(ns) if ns else (QUICK_NS if quick else NS)
    ds = tuple(ds) if ds else (QUICK_DS if quick else DS)
    return [(e, n, d) for e in estimators for n in ns for d in ds]


def implementations_for(estimator: str) -> tuple:
    return ("dan_ext",) + PEERS[estimator]


def block_size(n: int) -> int:
    import dan_ext

    return dan_ext.default_block_size(n)


def materialised_bytes(impl: str, estimator: str, n: int, d: int, m: int = M, itemsize: int = 4):
    """(bytes, what) of the largest set of [.., d]-wide values the implementation holds at once (kept by
    autograd for the backward), or None for dan_ext (never materialised: O(n d) plus a 16 MB stripe)."""
    N = 2 * n
    if impl == "tllib":  # each GaussianKernel forms its own [2n, 2n, d] difference tensor
        return m * N * N * d * itemsize, f"{m} [{N}, {N}, {d}] difference tensors (one per kernel)"
    if impl == "deepda":
        return N * N * d * itemsize, f"the [{N}, {N}, {d}] difference tensor"
    if impl == "cdist":  # no [N, N, d] tensor: the distance matrix and m kernel matrices kept for the backward
        return (m + 2) * N * N * itemsize, f"{m + 2} [{N}, {N}] distance and kernel matrices"
    if impl == "reference":
        if estimator in ("unbiased", "biased"):  # pairwise_sqdists: ss, tt and st differences, all kept
            return 3 * n * n * d * itemsize, f"3 [{n}, {n}, {d}] difference tensors"
        if estimator == "block":
            B = block_size(n)
            nb = n // B
            return 3 * nb * B * B * d * itemsize, f"3 [{nb}, {B}, {B}, {d}] difference tensors"
        return 6 * n * d * itemsize, f"6 [{n}, {d}] gathered rows and differences"
    return None


def estimate_seconds(impl: str, estimator: str, n: int, d: int, threads: int, m: int = M) -> float:
    """A rough CPU time of one forward + backward, from a static cost model (GEMM flops and elementwise
    passes at GEMM_FLOPS_PER_THREAD and ELEMENTS_PER_THREAD per thread)."""
    flops, elems = GEMM_FLOPS_PER_THREAD * threads, ELEMENTS_PER_THREAD * threads
    if impl == "dan_ext":
        if estimator == "shifted":
            return 30.0 * n * d / elems
        if estimator == "block":
            B = block_size(n)
            pairs = (n // B) * (2 * B) ** 2
        else:
            pairs = (2 * n) ** 2
        # the Gram stripes and the gradient's matmul (2 flops a pair and column each), the pass (m kernels)
        return 4.0 * pairs * d / flops + pairs * (m + 4) / elems
    nbytes, _ = materialised_bytes(impl, estimator, n, d, m)
    # difference, square, sum forward; their gradients backward: about 6 passes over the tensors
    return 6.0 * (nbytes / 4) / elems


def skip_reason(impl: str, estimator: str, n: int, d: int, device: str, max_gb: float = MAX_MATERIALISED_GB,
                max_seconds: float = CPU_MAX_SECONDS, threads=None):
    """Why this case is skipped, or None. Materialised implementations over max_gb; on the CPU, dan_ext
    cases estimated over max_seconds a call."""
    mat = materialised_bytes(impl, estimator, n, d)
    if mat is not None and mat[0] > max_gb * GIB:
        return f"materialised: would need {mat[0] / GIB:.1f} GB ({mat[1]}) > {max_gb:g} GB"
    if device == "cpu" and impl == "dan_ext":
        threads = threads or torch.get_num_threads()
        est = estimate_seconds(impl, estimator, n, d, threads)
        if est > max_seconds:
            return f"estimated {est:.0f} s a call on {threads} CPU threads > {max_seconds:g} s"
    return None


def make_inputs(n: int, d: int, device: str, seed: int = 0):
    from .cases import make_inputs as _make

    return _make(n, d, torch.float32, device, seed)


def loss_fn(impl: str, estimator: str, xs, xt):
    """A zero-argument callable computing the implementation's loss for the estimator."""
    if impl == "dan_ext":
        import dan_ext

        return lambda: dan_ext.mkmmd(xs, xt, estimator=estimator, kernel_num=M)
    if impl == "reference":
        from dan_ext.estimators import reference as reference_estimators

        return lambda: reference_estimators.mkmmd(xs, xt, estimator=estimator, kernel_num=M)
    if impl == "tllib":
        if estimator not in ("shifted", "unbiased"):
            raise ValueError(f"tllib has no {estimator!r} estimator (linear=True: shifted, linear=False: unbiased)")
        from .peers import tllib_mkmmd

        return lambda: tllib_mkmmd(xs, xt, linear=estimator == "shifted")
    if impl == "deepda":
        if estimator != "biased":
            raise ValueError(f"DeepDA's MMDLoss computes the biased estimator, not {estimator!r}")
        from .peers import deepda_mmd

        return lambda: deepda_mmd(xs, xt, kernel_num=M)
    if impl == "cdist":
        if estimator != "biased":
            raise ValueError(f"the cdist peer computes the biased estimator, not {estimator!r}")
        from .peers import quadratic_mkmmd

        return lambda: quadratic_mkmmd(xs, xt, kernel_num=M)
    raise ValueError(f"unknown implementation {impl!r}; one of {', '.join(IMPLS)}")


def fwd_bwd(impl: str, estimator: str, xs, xt):
    """A callable running one forward and the gradients w.r.t. both inputs."""
    from .cases import step

    return step(loss_fn(impl, estimator, xs, xt), True, (xs, xt))


# ---------------------------------------------------------------------------------------------
# the worker: one case in this (fresh) process


def _status_bytes(field: str):
    """/proc/self/status's VmRSS or VmHWM in bytes, or None where there is no /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak_rss() -> bool:
    """Resets this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0); False where it can't."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _cpu_peak_start():
    """(baseline bytes, how the peak will be read): the RSS now, with the high-water mark reset to it
    where Linux allows. ru_maxrss alone is not enough in a worker: a child that a large process (pytest,
    with torch loaded) started by vfork/fork + exec inherits that process's RSS as its ru_maxrss floor."""
    if _reset_peak_rss():
        rss = _status_bytes("VmRSS")
        if rss is not None and _status_bytes("VmHWM") is not None:
            return rss, "VmHWM"
    return _maxrss_bytes(), "ru_maxrss"


def _cpu_peak_bytes(method: str) -> int:
    return _status_bytes("VmHWM") if method == "VmHWM" else _maxrss_bytes()


def worker(case: dict) -> dict:
    from .report import sync

    impl, est, n, d, device, reps = (case[k] for k in ("impl", "estimator", "n", "d", "device", "reps"))
    if case.get("threads"):
        torch.set_num_threads(case["threads"])
    small = fwd_bwd(impl, est, *make_inputs(min(n, 8), d, device, seed=1))
    small()  # lazy imports, the compiled module, thread pools
    sync(device)
    xs, xt = make_inputs(n, d, device)
    run = fwd_bwd(impl, est, xs, xt)
    del small
    gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base, method = _cpu_peak_start()
    t0 = time.perf_counter()
    out = run()  # the first full-size call: the warm-up, not timed in the median
    sync(device)
    first_ms = (time.perf_counter() - t0) * 1e3
    del out
    ms = timed_median_ms(run, device, reps) if reps > 0 else first_ms
    if device == "cuda":
        peak, method = torch.cuda.max_memory_allocated() - base, "max_memory_allocated"
    else:
        peak = _cpu_peak_bytes(method) - base
    return {"time_ms": ms, "first_ms": first_ms, "peak_bytes": max(0, peak), "peak_method": method}


def run_case(impl, estimator, n, d, device, reps, timeout_s, threads=None) -> dict:
    """The worker's result in a fresh subprocess, or {"error": why}."""
    case = dict(impl=impl, estimator=estimator, n=n, d=d, device=device, reps=reps, threads=threads)
    cmd = [sys.executable, "-m", "benchmarks.estimator_table", "--worker", json.dumps(case)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    if p.returncode != 0:
        lines = [ln for ln in (p.stderr or p.stdout).strip().splitlines() if ln.strip()]
        return {"error": f"worker failed (exit {p.returncode}): {lines[-1] if lines else 'no output'}"[:300]}
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# the table


def _estimate(impl, est, n, d, device, threads, measured):
    """Seconds a call: the last measured case of (impl, est) over 50 ms scaled by the cost model, else
    the cost model itself (CPU only; None on CUDA before any measurement)."""
    static = estimate_seconds(impl, est, n, d, threads)
    prev = measured.get((impl, est))
    if prev is not None:
        (n0, d0), seconds = prev
        return seconds * static / estimate_seconds(impl, est, n0, d0, threads), f"from n={n0} d={d0}"
    return (static if device == "cpu" else None), "cost model"


def build_rows(cases, device, reps, max_seconds, max_gb, log=print, dry_run=False, threads=None):
    """One row per (estimator, n, d, implementation): measured in a fresh worker (torch.set_num_threads(
    threads) when given), or skipped with the reason in row["note"]. dry_run: nothing runs; the note says
    what would (with the static estimate)."""
    worker_threads = threads
    threads = threads or torch.get_num_threads()
    rows, measured = [], {}
    for est, n, d in cases:
        for impl in implementations_for(est):
            row = {"estimator": est, "n": n, "d": d, "impl": impl}
            rows.append(row)
            why = skip_reason(impl, est, n, d, device, max_gb=max_gb, max_seconds=float("inf"))
            if why is None:
                seconds, basis = _estimate(impl, est, n, d, device, threads, measured)
                if seconds is not None and seconds > max_seconds:
                    why = f"estimated {seconds:.0f} s a call ({basis}) > {max_seconds:g} s"
            if why is not None:
                row["note"] = "skipped: " + why
                log(f"{est} n={n} d={d} {impl}: {row['note']}", flush=True)
                continue
            if dry_run:
                seconds, basis = _estimate(impl, est, n, d, device, threads, measured)
                row["note"] = "would run" + (f" (estimated {seconds:.3g} s a call, {basis})" if seconds else "")
                continue
            r = run_case(impl, est, n, d, device, reps, timeout_s=(reps + 2) * max_seconds + 120,
                         threads=worker_threads)
            if "error" in r:
                row["note"] = r["error"]
            else:
                row.update(r)
                if r["time_ms"] > 50:
                    measured[(impl, est)] = ((n, d), r["time_ms"] / 1e3)
            log(f"{est} n={n} d={d} {impl}: " + (row.get("note") or
                f"{row['time_ms']:.3f} ms, {row['peak_bytes'] / 2**20:.1f} MB"), flush=True)
    for row in rows:  # speed-up of dan_ext over each peer: peer time / dan_ext time, same case
        ours = next(r for r in rows if (r["estimator"], r["n"], r["d"], r["impl"]) ==
                    (row["estimator"], row["n"], row["d"], "dan_ext"))
        if row["impl"] != "dan_ext" and "time_ms" in row and "time_ms" in ours:
            row["speedup"] = row["time_ms"] / ours["time_ms"]
    return rows


def render(device, rows, args) -> str:
    from .report import machine

    out = [f"### MK-MMD estimators, {device.upper()}: {machine(device)}", "",
           f"float32, m = {M} kernels, forward + backward (gradients w.r.t. both inputs); time: median of "
           f"at least {args.reps} calls after one; peak MB: "
           + ("torch.cuda.max_memory_allocated over the memory allocated before the calls"
              if device == "cuda" else
              f"peak RSS growth ({'/'.join(sorted({r['peak_method'] for r in rows if 'peak_method' in r})) or '-'}) "
              "over the RSS after imports, inputs and a tiny warm-up call, one fresh process per case")
           + f" (includes the two gradients, 8 n d bytes). Skipped: materialised tensors over {args.max_gb:g} GB, "
             f"or estimated over {args.max_seconds:g} s a call. dan_ext speed-up = implementation's time / "
             "dan_ext's time on the same case.", "",
           "| estimator | n | d | implementation | time ms | peak MB | dan_ext speed-up | note |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = f"{r['time_ms']:.3f}" if "time_ms" in r else "—"
        mb = f"{r['peak_bytes'] / 2**20:.1f}" if "peak_bytes" in r else "—"
        sp = f"{r['speedup']:.1f}x" if "speedup" in r else ("(ours)" if r["impl"] == "dan_ext" else "—")
        out.append(f"| {r['estimator']} | {r['n']} | {r['d']} | {r['impl']} | {t} | {mb} | {sp} | "
                   f"{r.get('note', '')} |")
    return "\n".join(out) + "\n"


def _ints(text: str):
    return [int(v) for v in text.split(",") if v.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Time and peak memory of dan_ext.mkmmd's shifted, block, unbiased "
                                             "and biased estimators against the reference and the materialised "
                                             "peers, as a markdown table (one fresh process per case).")
    ap.add_argument("--out", default=None, help="markdown file to write (default: print only)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--reps", type=int, default=3, help="timed calls per case at least (median)")
    ap.add_argument("--max-seconds", type=float, default=120.0, help="skip cases estimated to take longer a call")
    ap.add_argument("--max-gb", type=float, default=MAX_MATERIALISED_GB,
                    help="skip materialised implementations needing more (GB)")
    ap.add_argument("--quick", action="store_true", help=f"only n in {QUICK_NS}, d in {QUICK_DS}")
    ap.add_argument("--n", type=_ints, default=None, help="comma-separated rows per domain (overrides the grid's)")
    ap.add_argument("--d", type=_ints, default=None, help="comma-separated widths (overrides the grid's)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads in each case's process")
    ap.add_argument("--estimators", default=",".join(ESTIMATORS), help="comma-separated subset of the estimators")
    ap.add_argument("--dry-run", action="store_true", help="list what would run and what is skipped, run nothing")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: one case, JSON in and out
    args = ap.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    estimators = tuple(e for e in args.estimators.split(",") if e)
    unknown = set(estimators) - set(ESTIMATORS)
    if unknown:
        ap.error(f"unknown estimators {sorted(unknown)}; choose from {', '.join(ESTIMATORS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device here")
    from .report import machine

    if args.threads:
        torch.set_num_threads(args.threads)  # for the header and the estimates; the workers set their own
    print(f"{args.device.upper()}: {machine(args.device)}", flush=True)
    rows = build_rows(grid(args.quick, args.n, args.d, estimators), args.device, args.reps, args.max_seconds,
                      args.max_gb, dry_run=args.dry_run, threads=args.threads)
    text = render(args.device, rows, args)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
