"""One record per MK-MMD estimator: everything the library needs to know of an estimator besides
its kernels, read by every place that used to compare names (the op's dispatch, the argument
checks, the variance rules, the two-sample test, DANLoss, the trainer's checks, dan ablate). A new
estimator is one record here plus its kernels (a ``route`` the op already has, or a new one).

The formulas are in the docstring of dan_ext/estimators/op.py; each record names its source.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch

from dan_ext._checks import check_integer

#: the routes the op knows: the paper's op itself; the paper's op on overlapping tuples; the fused
#: pass over every pair of rows (dan_ext/estimators/allpairs.py)
ROUTES = ("linear", "shifted", "all_pairs")


def default_block_size(n: int) -> int:
    """B = max(2, floor(sqrt(n))) for n = min(n_s, n_t) rows per domain: the B-test's advice
    (Zaremba et al. 2013), which balances the number of blocks against their size."""
    if not torch.compiler.is_compiling():
        return max(2, math.isqrt(check_integer(n, "n", 2)))
    # the size may be symbolic under torch.compile (dynamic shapes), which math.isqrt cannot trace
    b = int(n ** 0.5)
    while (b + 1) * (b + 1) <= n:
        b += 1
    while b * b > n:
        b -= 1
    return max(2, b)


@dataclass(frozen=True)
class Estimator:
    """One estimator of the MK-MMD: where its formula comes from, how the op computes it, the pairs
    its default bandwidths average, whether it takes ``block_size``, its variance rule and what DDP
    reduces. ``get_estimator(name)`` gives the record; ``dan_ext.mkmmd`` and ``mmd_test`` read it."""
    name: str
    source: str                 # where the formula comes from
    route: str                  # how the op computes it: one of ROUTES
    bandwidth_pairs: str        # gbar, the default bandwidths' centre, is the mean squared distance over these
    takes_block_size: bool      # block_size applies (rows per domain in a block)
    #: J(n, block_size), the independent differences behind Q on n = min(n_s, n_t) rows per domain
    #: (0: Q is NaN); None: Q is the first-order (Hoeffding) variance, finite from 2 rows, which is
    #: near 0 under the null, so the two-sample test uses permutations instead of a t reference
    variance_dof: Optional[Callable[[int, Optional[int]], int]]
    #: what DANLoss reduces under DDP. gbar is all-reduced so every rank uses the global batch's
    #: bandwidths, and d and Q are averaged over ranks; every estimator today reduces the same way
    ddp: str = "gbar all-reduced (mean over ranks); d and Q averaged over ranks"

    @property
    def null(self) -> str:
        """The null distribution of the two-sample test, "normal" (the studentised statistic against
        Student's t with J degrees of freedom) or "permutation"."""
        return "normal" if self.variance_dof is not None else "permutation"


def _block_dof(n: int, block_size: Optional[int]) -> int:
    return (n // (block_size or default_block_size(n))) // 2


REGISTRY: Tuple[Estimator, ...] = (
    Estimator("linear", "Long et al., ICML 2015 (Eq. 6): disjoint quad-tuples", "linear",
              "the four pairs of each quad-tuple", False, lambda n, B: (n // 2) // 2),
    Estimator("shifted", "Transfer-Learning-Library's DAN recipe (linear=True): overlapping cyclic tuples",
              "shifted", "the four pairs of each tuple", False, lambda n, B: n // 2 if n >= 4 else 0),
    Estimator("block", "the B-test (Zaremba, Gretton, Blaschko, NeurIPS 2013): U-statistics of blocks",
              "all_pairs", "the pairs inside the blocks", True, _block_dof),
    Estimator("unbiased", "the two-sample U-statistic over all pairs (tllib's class default)", "all_pairs",
              "all distinct pairs of the pooled rows", False, None),
    Estimator("biased", "the V-statistic over all pairs (DeepDA's MMDLoss)", "all_pairs",
              "all distinct pairs of the pooled rows", False, None),
)
BY_NAME: Dict[str, Estimator] = {e.name: e for e in REGISTRY}
ESTIMATORS = tuple(BY_NAME)
ALL_PAIRS = tuple(e.name for e in REGISTRY if e.route == "all_pairs")
DEFAULT_ESTIMATOR = "linear"  # the paper's


def get_estimator(name) -> Estimator:
    """The record of ``name``; a one-line ValueError naming the estimators otherwise."""
    est = BY_NAME.get(name) if isinstance(name, str) else None
    if est is None:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {name!r}")
    return est
