"""Time and peak memory of dan.classic's TCA and JDA against a plain re-implementation of the
behaviour of the published numpy scripts users run today (a dense n x n kernel, M divided by its
Frobenius norm, the pencil (K M K + lam I, K H K) solved with the general scipy.linalg.eig and its
smallest eigenvalues kept, rows and embeddings L2-normalised, 1-NN), on random two-domain data
(10 Gaussian classes in d dimensions, the target shifted and stretched).

    python -m benchmarks.classic_speed                                  # the table below
    python -m benchmarks.classic_speed --sizes 1000 --published-sizes 1000 --d 64
    python -m benchmarks.classic_speed --sizes 16000,50000 --impls primal

Both sides get the same rows (L2-normalised), the same rbf kernel (bandwidth = mean squared pair
distance), k = 30, lam = mu = 1, and are scored the same way (embedding rows L2-normalised, 1-NN
from source to target; JDA's inner classifier is a Normalizer + 1-NN pipeline on our side, which the
published scripts do inline). "agree" counts the directions the two projections share (principal
angle cosines above 0.999 between the spans of the n x k dual coefficients, out of 30). Peak
memory is the largest block of numpy memory alive at once (tracemalloc), not the process RSS.

Where they differ, and why: K H K is singular (H removes the mean, so the constant direction of the
dual coefficients is in its null space), and the general eig reports that direction's infinite
eigenvalue of (K M K + lam I, K H K) as a huge finite number of either sign (-1.8e13 at n = 300
here). When it comes out negative, sorting by value puts it FIRST, so the published scripts keep that
meaningless direction and drop their 30th real one: 29 of 30 directions then agree to 1e-4 and the
eigenvalues of the rest agree to all printed digits. eigh on (K H K, K M K + lam I), the pencil with
the definite matrix second, has no such eigenvalue.

Measured on 2 cores shared with other jobs (OMP_NUM_THREADS=1, OpenBLAS, no GPU), d = 256, k = 30.

1. Against the published behaviour, side by side in one process (load average 4 to 9; our peak
   memory here is from before the in-place eigenproblem, see table 2 for today's):

| method | implementation | n | seconds | peak MB | target acc | agree |
|---|---|---|---|---|---|---|
| TCA | published (dense, eig) | 1000 | 78.5 | 77 | 51.0 | |
| TCA | ours exact dual (eigh) | 1000 | 1.9 | 54 | 50.0 | 29/30 |
| JDA | published (dense, eig) | 1000 | 542.1 | 77 | 51.4 | |
| JDA | ours exact dual (eigh) | 1000 | 7.9 | 55 | 47.6 | 14/30 |
| TCA | published (dense, eig) | 4000 | 2731.4 | 1222 | 72.5 | |
| TCA | ours exact dual (eigh) | 4000 | 20.8 | 857 | 71.1 | 29/30 |
| TCA | ours default (rbf, auto: 1024 landmarks) | 4000 | 2.8 | 143 | 69.2 | |
| JDA | published (dense, eig) | 4000 | not run: 10 such eigs, about 7.5 h | | | |

Ratios: TCA 41x faster at n = 1,000 and 131x at 4,000 with the same 29 of 30 directions (the 30th:
see above) and target accuracy within 1.4 points; 975x with the default Nystrom map at 4,000, an
approximate answer 3.3 points lower. JDA 69x at 1,000; its projections share only 14 of 30
directions because the pseudo labels of the first solve already differ (the published first solve
keeps the spurious direction) and the difference compounds over 10 iterations.

2. Every size, current code, one process (load average about 3.7):

| method | implementation | n | seconds | peak MB | target acc |
|---|---|---|---|---|---|
| TCA | published (dense, eig) | 1000 | 8.7 | 77 | 51.0 |
| TCA | ours exact dual (eigh) = default | 1000 | 0.3 | 46 | 50.0 |
| TCA | ours primal | 1000 | 0.0 | 3 | 54.6 |
| JDA | ours exact dual (eigh) = default | 1000 | 3.1 | 47 | 47.6 |
| JDA | ours primal | 1000 | 0.4 | 3 | 50.6 |
| TCA | ours exact dual (eigh) | 4000 | 18.7 | 641 | 71.1 |
| TCA | ours default (rbf, 1024 landmarks) | 4000 | 2.4 | 58 | 69.2 |
| TCA | ours primal | 4000 | 0.1 | 3 | 69.3 |
| JDA | ours exact dual (eigh) | 4000 | 137.2 | 644 | 66.7 |
| JDA | ours default (rbf, 1024 landmarks) | 4000 | 14.6 | 61 | 68.5 |
| JDA | ours primal | 4000 | 0.4 | 5 | 65.0 |
| TCA | ours default (rbf, 1024 landmarks) | 16000 | 6.0 | 58 | 78.0 |
| TCA | ours primal | 16000 | 0.6 | 12 | 77.6 |
| JDA | ours default (rbf, 1024 landmarks) | 16000 | 43.1 | 69 | 78.0 |
| JDA | ours primal | 16000 | 4.3 | 13 | 73.6 |
| TCA | ours default (rbf, 1024 landmarks) | 50000 | 23.2 | 62 | 80.8 |
| TCA | ours primal | 50000 | 4.2 | 38 | 81.0 |
| JDA | ours default (rbf, 1024 landmarks) | 50000 | 165.7 | 93 | 80.7 |
| JDA | ours primal | 50000 | 47.6 | 38 | 42.2 |

Seconds include the 1-NN scoring. Load changes times a lot (published TCA at 1,000: 78.5 s in
table 1, 8.7 s here, 29x ours), so compare rows of one table only. 50,000 rows run in under 100 MB;
the published way would need 50,000^2 x 8 bytes = 20 GB per n x n matrix.

On this synthetic shift (a global shift and stretch, classes barely separable) JDA does not beat
TCA, and the primal JDA at 50,000 rows drifts to 42.2%: its pseudo labels get worse with every
iteration (at 4,000 rows: 69.35, 66.55, 65.45, 65.0, 64.95% for n_iter = 1, 2, 3, 5, 10). The printed
-> digits benchmark (benchmarks/classic_digits.py) is the real-data check, where JDA does beat TCA.
"""
from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import scipy.linalg
from scipy.spatial.distance import cdist
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, normalize

from dan.classic import JDA, TCA

K_DIM, LAM, CLASSES = 30, 1.0, 10


def make_data(n: int, d: int, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLASSES, d)) * 0.2  # source-only 1-NN about 36% at n = 1000
    ns = n // 2
    y = rng.integers(0, CLASSES, n)
    x = centres[y] + rng.normal(size=(n, d)) * 1.0
    x[ns:] = 1.3 * x[ns:] + rng.normal(size=d) * 0.5     # the target: stretched and shifted
    sd = np.r_[np.ones(ns, dtype=int), -np.ones(n - ns, dtype=int)]
    return normalize(x), y, sd


def rbf(x: np.ndarray) -> np.ndarray:
    d2 = cdist(x, x, "sqeuclidean")
    return np.exp(-d2 / (d2.sum() / (len(x) * (len(x) - 1))))


def published_solve(k: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The scripts' step: general eig of the pencil, the K_DIM smallest eigenvalues' vectors."""
    n = k.shape[0]
    h = np.eye(n) - 1.0 / n
    m = m / np.linalg.norm(m, "fro")
    values, vectors = scipy.linalg.eig(k @ m @ k.T + LAM * np.eye(n), k @ h @ k.T)
    order = np.argsort(values.real)  # infinite ones (singular K H K) sort last
    return vectors[:, order[:K_DIM]].real


def published_mmd(sd: np.ndarray, labels=None) -> np.ndarray:
    src, tgt = sd > 0, sd < 0
    e = np.where(src, 1.0 / src.sum(), -1.0 / tgt.sum())
    m = np.outer(e, e)
    if labels is not None:
        for c in range(CLASSES):
            ec = np.where(src & (labels == c), 1.0 / max((src & (labels == c)).sum(), 1), 0.0)
            ec -= np.where(tgt & (labels == c), 1.0 / max((tgt & (labels == c)).sum(), 1), 0.0)
            if (src & (labels == c)).any() and (tgt & (labels == c)).any():
                m += np.outer(ec, ec)
    return m


def one_nn(z: np.ndarray, y, sd) -> np.ndarray:
    z = normalize(z)
    return KNeighborsClassifier(n_neighbors=1).fit(z[sd > 0], y[sd > 0]).predict(z[sd < 0])


def published_tca(x, y, sd):
    k = rbf(x)
    a = published_solve(k, published_mmd(sd))
    return a, one_nn(k @ a, y, sd)


def published_jda(x, y, sd, n_iter=10):
    k = rbf(x)
    pseudo = None
    for _ in range(n_iter):
        labels = None if pseudo is None else np.where(sd > 0, y, pseudo)
        a = published_solve(k, published_mmd(sd, labels))
        pred = one_nn(k @ a, y, sd)
        pseudo = np.full(len(y), -1)
        pseudo[sd < 0] = pred
    return a, pred


def ours(cls, **kw):
    def run(x, y, sd):
        est = cls(n_components=K_DIM, mu=LAM, **{"kernel": "rbf", **kw})
        if cls is JDA:
            est.set_params(classifier=make_pipeline(Normalizer(), KNeighborsClassifier(n_neighbors=1)))
        z = est.fit_transform(x, np.where(sd > 0, y, -1), sample_domain=sd)
        return est.components_, one_nn(z, y, sd)
    return run


def measure(fn, x, y, sd) -> tuple:
    tracemalloc.start()
    start = time.perf_counter()
    coef, pred = fn(x, y, sd)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return coef, float(np.mean(pred == y[sd < 0])), seconds, peak / 2 ** 20


def agreement(a: np.ndarray, b: np.ndarray) -> int:
    qa, qb = np.linalg.qr(a)[0], np.linalg.qr(b)[0]
    return int(np.sum(np.linalg.svd(qa.T @ qb, compute_uv=False) > 0.999))


def plan(n: int, args) -> list:
    """(method, implementation, function) to run at N rows, as the flags select."""
    ints = lambda s: [int(v) for v in s.split(",") if v]  # noqa: E731
    impls = args.impls.split(",")
    runs = []
    for method, cls, published, published_sizes in (("TCA", TCA, published_tca, args.published_sizes),
                                                     ("JDA", JDA, published_jda, args.published_jda_sizes)):
        if "published" in impls and n in ints(published_sizes):
            runs.append((method, "published (dense, eig)", published))
        if "exact" in impls and n in ints(args.exact_sizes):
            runs.append((method, "ours exact dual (eigh)", ours(cls, n_landmarks=None)))
        if "auto" in impls:
            runs.append((method, "ours default (rbf, auto)", ours(cls)))
        if "primal" in impls:
            runs.append((method, "ours primal", ours(cls, kernel="primal")))
    return runs


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,4000,16000,50000")
    ap.add_argument("--impls", default="published,exact,auto,primal", help="which implementations run")
    ap.add_argument("--published-sizes", default="1000,4000", help="n where the published TCA runs")
    ap.add_argument("--published-jda-sizes", default="1000", help="n where the published JDA runs (10 eigs)")
    ap.add_argument("--exact-sizes", default="1000,4000", help="n where our exact n x n dual runs")
    ap.add_argument("--d", type=int, default=256)
    args = ap.parse_args(argv)
    print("| method | implementation | n | seconds | peak MB | target acc | agree |")
    print("|---|---|---|---|---|---|---|")
    for n in [int(v) for v in args.sizes.split(",")]:
        x, y, sd = make_data(n, args.d)
        reference = {}
        for method, impl, fn in plan(n, args):
            coef, acc, seconds, peak = measure(fn, x, y, sd)
            agree = ""
            if impl.startswith("published"):
                reference[method] = coef
            elif "exact" in impl and method in reference:
                agree = f"{agreement(reference[method], coef)}/{coef.shape[1]}"
            print(f"| {method} | {impl} | {n} | {seconds:.1f} | {peak:.0f} | {100 * acc:.1f} | {agree} |", flush=True)


if __name__ == "__main__":
    main()
