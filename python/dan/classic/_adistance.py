"""Proxy A-distance and BDA's balance factor estimated from it (Wang et al., ICDM 2017).

proxy A-distance = 2 (1 - 2 err), err the error of a domain classifier: a logistic regression on
standardised features, trained on a random stratified half of the two sets' rows and scored on the
other half (clipped at 0: a classifier worse than chance means no detectable difference). The
balance factor is mu = 1 - d_A / (d_A + sum_c d_c), d_A the A-distance between the whole domains
and d_c the one between the source rows of class c and the target rows pseudo-labelled c: a large
marginal distance pushes mu towards 0 (the marginal term), large class distances towards 1.
A class with fewer than MIN_CLASS_ROWS rows on either side is left out; with every distance 0,
mu = 0.5 (JDA's weighting).
"""
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MIN_CLASS_ROWS = 4  # rows per side: a held-out half needs at least one row of each set


def proxy_a_distance(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    x = np.concatenate([a, b])
    d = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    x_fit, x_test, d_fit, d_test = train_test_split(x, d, test_size=0.5, stratify=d, random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_fit, d_fit)
    err = 1.0 - clf.score(x_test, d_test)
    return max(0.0, 2.0 * (1.0 - 2.0 * err))


def estimate_mu(x: np.ndarray, source: np.ndarray, target: np.ndarray, labels: np.ndarray, classes,
                seed: int = 0) -> float:
    """BDA's mu from X's rows (LABELS: source labels and target pseudo labels, -1 unknown)."""
    marginal = proxy_a_distance(x[source], x[target], seed)
    conditional = 0.0
    for c in classes:
        s, t = source & (labels == c), target & (labels == c)
        if s.sum() >= MIN_CLASS_ROWS and t.sum() >= MIN_CLASS_ROWS:
            conditional += proxy_a_distance(x[s], x[t], seed)
    if marginal + conditional == 0.0:
        return 0.5
    return 1.0 - marginal / (marginal + conditional)
