"""Target accuracy of 1-NN after each dan.classic method on the library's own digit shift: printed
digits (rendered fonts, dan.data.load_domain("printed")) <-> scikit-learn's handwritten 8x8 digits
("digits"), raw 64-pixel features, no target label used for fitting.

    python -m benchmarks.classic_digits                   # both directions, rows as they are and L2-normalised
    python -m benchmarks.classic_digits --pairs printed:digits --methods none,tca,jda

Each method is fitted on all source + target rows with sample_domain, then a 1-NN trained on the
embedded source predicts the embedded target (the JDA/BDA papers' protocol). "l2" divides every
row by its norm first, as the published scripts do. Defaults otherwise (n_components=30, mu=1,
kernel rbf: with 3,797 rows the rbf map is a 1,024-landmark Nystrom one, landmarks drawn with
random_state=0; "primal" rows solve the d x d problem).

Measured (target accuracy %, 2,000 printed and 1,797 handwritten digits; seconds for the four cells
on 2 cores shared with other jobs, load about 7):

| method | printed->digits raw | printed->digits l2 | digits->printed raw | digits->printed l2 | seconds |
|---|---|---|---|---|---|
| none | 26.9 | 40.3 | 50.8 | 50.3 | 0 |
| tca | 38.0 | 46.0 | 50.6 | 49.0 | 13 |
| tca-primal | 44.8 | 47.2 | 54.2 | 48.4 | 0 |
| jda | 43.5 | 56.5 | 61.5 | 55.6 | 184 |
| jda-primal | 47.0 | 60.6 | 68.2 | 57.8 | 7 |
| bda | 46.0 | 56.8 | 61.5 | 56.0 | 286 |
| bda-primal | 45.7 | 60.5 | 68.3 | 57.5 | 55 |
| sa | 45.7 | 49.6 | 54.6 | 52.3 | 1 |
| coral | 44.9 | 40.7 | 49.8 | 50.0 | 1 |
| gfk | 30.7 | 43.9 | 50.5 | 50.2 | 2 |

What it shows: every MMD method beats source-only 1-NN on printed -> digits (26.9% raw); JDA and BDA
beat TCA in every column (47.0 / 45.7 against 44.8 primal, raw), the iterated class terms pay; BDA's
estimated mu (about 0.9 here) is within 2.5 points of JDA either way, so "balanced > joint" is not
shown on this pair; SA and CORAL help on raw rows, CORAL not after L2 normalisation; GFK barely
moves 1-NN. digits -> printed (50.8% raw) gains only with JDA/BDA (up to 68.3%).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import normalize

from dan.classic import BDA, CORAL, GFK, JDA, SA, TCA
from dan.data import load_domain

METHODS = {
    "none": lambda: None,
    "tca": lambda: TCA(), "tca-primal": lambda: TCA(kernel="primal"),
    "jda": lambda: JDA(), "jda-primal": lambda: JDA(kernel="primal"),
    "bda": lambda: BDA(), "bda-primal": lambda: BDA(kernel="primal"),
    "sa": lambda: SA(), "coral": lambda: CORAL(), "gfk": lambda: GFK(),
}


def features(name: str) -> tuple:
    dom = load_domain(name)
    return dom.x.reshape(len(dom), -1).numpy().astype(np.float64), dom.y.numpy()


def accuracy(method: str, xs, ys, xt, yt) -> float:
    x = np.vstack([xs, xt])
    sd = np.r_[np.ones(len(xs), dtype=int), -np.ones(len(xt), dtype=int)]
    y = np.r_[ys, -np.ones(len(xt), dtype=int)]
    est = METHODS[method]()
    z = x if est is None else est.fit_transform(x, y, sample_domain=sd)
    knn = KNeighborsClassifier(n_neighbors=1).fit(z[sd > 0], ys)
    return float(np.mean(knn.predict(z[sd < 0]) == yt))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default="printed:digits,digits:printed")
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    pairs = [p.split(":") for p in args.pairs.split(",")]
    print("| method | " + " | ".join(f"{s}->{t} {pre}" for s, t in pairs for pre in ("raw", "l2")) + " | seconds |")
    print("|---" * (2 * len(pairs) + 2) + "|")
    data = {name: features(name) for pair in pairs for name in pair}
    for method in methods:
        start, cells = time.perf_counter(), []
        for s, t in pairs:
            (xs, ys), (xt, yt) = data[s], data[t]
            for prep in (lambda a: a, lambda a: normalize(a)):
                cells.append(f"{100 * accuracy(method, prep(xs), ys, prep(xt), yt):.1f}")
        print(f"| {method} | " + " | ".join(cells) + f" | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
