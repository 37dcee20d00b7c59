"""On the library's own shift (printed fonts -> handwritten 8x8 digits, raw 64 pixels), JDA's
embedding lifts 1-NN target accuracy well above source-only 1-NN (measured: 26.9% -> 47.0%;
benchmarks/classic_digits.py prints the full table)."""
import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from dan.classic import JDA
from dan.data import load_domain


def test_jda_beats_source_only_one_nn_on_printed_to_digits():
    src, tgt = load_domain("printed"), load_domain("digits")
    xs, ys = src.x.reshape(len(src), -1).numpy().astype(np.float64), src.y.numpy()
    xt, yt = tgt.x.reshape(len(tgt), -1).numpy().astype(np.float64), tgt.y.numpy()
    raw = np.mean(KNeighborsClassifier(1).fit(xs, ys).predict(xt) == yt)
    x = np.vstack([xs, xt])
    sd = np.r_[np.ones(len(xs), dtype=int), -np.ones(len(xt), dtype=int)]
    z = JDA(kernel="primal").fit_transform(x, np.r_[ys, -np.ones(len(xt), dtype=int)], sample_domain=sd)
    adapted = np.mean(KNeighborsClassifier(1).fit(z[sd > 0], ys).predict(z[sd < 0]) == yt)
    assert raw < 0.35 and adapted > raw + 0.10, (raw, adapted)
