"""run_classic: features -> method -> classifier -> target accuracy, as one result dict (for a
`dan classic` command: the caller writes the dict as result.json)."""
import time
from typing import Optional

import numpy as np
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier

from dan.classic.bda import BDA
from dan.classic.coral import CORAL
from dan.classic.gfk import GFK
from dan.classic.jda import JDA
from dan.classic.sa import SA
from dan.classic.tca import TCA
from dan.classic.tjm import TJM

METHODS = {"none": None, "tca": TCA, "jda": JDA, "bda": BDA, "sa": SA, "coral": CORAL, "gfk": GFK,
           "tjm": TJM}


def _split(pair, name: str) -> tuple:
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise ValueError(f"{name}: expected a pair (features [n, d], labels [n] or None)")
    x = np.asarray(pair[0], dtype=np.float64)
    y = None if pair[1] is None else np.asarray(pair[1])
    if x.ndim != 2:
        raise ValueError(f"{name}: features must be a 2-d array [n, d], got shape {x.shape}")
    if y is not None and y.shape != (x.shape[0],):
        raise ValueError(f"{name}: {y.shape[0] if y.ndim else 0} labels for {x.shape[0]} rows")
    return x, y


def run_classic(method: str, source, target, params: Optional[dict] = None, classifier=None) -> dict:
    """Fit METHOD (a name in METHODS, "none" = no adaptation) with PARAMS on the source and target
    rows, train CLASSIFIER (default 1-NN, cloned) on the embedded labelled source, predict the
    embedded target. SOURCE = (Xs, ys); TARGET = (Xt, yt or None): yt is only used to score.
    Returns {"method", "params", "n_source", "n_target", "n_features", "target_accuracy" (None
    without yt), "seconds", "predictions" (a list)}."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    xs, ys = _split(source, "source")
    xt, yt = _split(target, "target")
    if ys is None:
        raise ValueError("source: labels are required on the source rows")
    if xs.shape[1] != xt.shape[1]:
        raise ValueError(f"target: {xt.shape[1]} features, the source has {xs.shape[1]}")
    params = dict(params or {})
    start = time.perf_counter()
    x = np.vstack([xs, xt])
    sd = np.r_[np.ones(len(xs), dtype=int), -np.ones(len(xt), dtype=int)]
    y = np.r_[ys, np.full(len(xt), -1, dtype=ys.dtype)]
    if METHODS[method] is None:
        if params:
            raise ValueError(f"params: method 'none' takes no parameters, got {sorted(params)}")
        z = x
    else:
        try:
            est = METHODS[method](**params)
        except TypeError as err:
            raise ValueError(f"params: {err}") from None
        z = est.fit_transform(x, y, sample_domain=sd)
    clf = clone(classifier) if classifier is not None else KNeighborsClassifier(n_neighbors=1)
    pred = clf.fit(z[sd > 0], ys).predict(z[sd < 0])
    return {
        "method": method, "params": params, "n_source": len(xs), "n_target": len(xt), "n_features": xs.shape[1],
        "target_accuracy": None if yt is None else float(np.mean(pred == yt)),
        "seconds": time.perf_counter() - start, "predictions": pred.tolist(),
    }
