"""Input checks shared by the classical estimators: one-line ValueErrors that name the argument.

The domain convention is skada's: ``sample_domain`` > 0 marks source rows, < 0 target rows (several
positive or negative values are pooled into one source and one target); a target label of -1 means
"unknown". With ``sample_domain=None`` at fit time the domains are read from ``y`` the same way skada
does: rows labelled -1 are the target, the others the source.
"""
import math
from typing import Any, Optional, Tuple

import numpy as np

MIN_ROWS = 2  # a domain of one row has no covariance, no principal subspace and no spread
DEFAULT_COMPONENTS = 30  # the published scripts' dim; capped by what the data allows
# The fits build width x width float64 matrices (kernel duals, covariances, their eigenvectors; a few
# at once): 1 GiB each, width <= 11585, keeps a fit within a few GiB. Beyond it numpy stopped with
# the allocator's raw message (TCA(n_landmarks=None) on 40,000 rows: "Unable to allocate 11.9 GiB").
MAX_SQUARE_BYTES = 1 << 30

Device = Any  # None (scipy on the CPU) or a torch.device (torch on that device)


def check_device(device) -> Device:
    """The estimators' ``device``: None (scipy, the default) or "cpu", "cuda", "cuda:N" or a
    torch.device, where torch solves the eigenproblem; a CUDA device must be there."""
    if device is None:
        return None
    import torch  # only for a torch device

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: expected None, 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device: expected None, 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {device!r}, but this torch ({torch.__version__}) sees no CUDA device; "
                             "use None (scipy) or 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device: {device!r}, but there are only {torch.cuda.device_count()} CUDA device(s)")
    return dev


def domain_masks(n_rows: int, y, sample_domain, name: str) -> Tuple[np.ndarray, np.ndarray]:
    """Boolean (source, target) row masks from SAMPLE_DOMAIN, or from y's -1 labels when it is None."""
    if sample_domain is None:
        if y is None:
            raise ValueError(f"sample_domain: {name}.fit needs sample_domain (> 0 source, < 0 target rows) "
                             "or y with -1 on the target rows")
        y = np.asarray(y)
        if y.shape[0] != n_rows:
            raise ValueError(f"y: {y.shape[0]} labels for {n_rows} rows of X")
        sd = np.where(y == -1, -2, 1)
    else:
        sd = np.asarray(sample_domain)
        if sd.ndim != 1 or sd.shape[0] != n_rows:
            raise ValueError(f"sample_domain: expected a 1-d array of {n_rows} values (one per row of X), "
                             f"got shape {sd.shape}")
        if not np.issubdtype(sd.dtype, np.number) or not np.all(np.isfinite(sd)) or np.any(sd == 0):
            raise ValueError("sample_domain: expected finite non-zero numbers (> 0 source, < 0 target rows)")
    source, target = sd > 0, sd < 0
    for mask, which in ((source, "source (sample_domain > 0)"), (target, "target (sample_domain < 0)")):
        if mask.sum() < MIN_ROWS:
            raise ValueError(f"sample_domain: {name} needs at least {MIN_ROWS} {which} rows, got {int(mask.sum())}")
    return source, target


def transform_source_mask(n_rows: int, sample_domain) -> np.ndarray:
    """Source rows for transform: all rows are target rows when SAMPLE_DOMAIN is None (new data at
    prediction time is target data, as in skada)."""
    if sample_domain is None:
        return np.zeros(n_rows, dtype=bool)
    sd = np.asarray(sample_domain)
    if sd.ndim != 1 or sd.shape[0] != n_rows:
        raise ValueError(f"sample_domain: expected a 1-d array of {n_rows} values (one per row of X), "
                         f"got shape {sd.shape}")
    return sd > 0


def source_labels(y, source: np.ndarray, name: str) -> np.ndarray:
    """The labels of the source rows (-1 where unknown); a ValueError when none is known."""
    if y is None:
        raise ValueError(f"y: {name} requires y to be passed, but the target y is None "
                         "(it needs class labels on the source rows)")
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != source.shape[0]:
        raise ValueError(f"y: expected a 1-d array of {source.shape[0]} labels, got shape {y.shape}")
    if not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating)
                                                    and np.all(np.isfinite(y)) and np.all(y == np.round(y)))):
        raise ValueError(f"y: Unknown label type: {name} needs integer class labels (-1 for unknown), "
                         f"got dtype {y.dtype}")
    ys = y[source].astype(np.int64)
    if not np.any(ys != -1):
        raise ValueError(f"y: {name} needs labels on the source rows (sample_domain > 0); all are -1")
    return ys


def n_components(requested: Optional[int], allowed: int, why: str) -> int:
    """REQUESTED (None: min(30, ALLOWED)) checked against ALLOWED, which WHY explains."""
    if requested is None:
        return min(DEFAULT_COMPONENTS, allowed)
    if isinstance(requested, bool) or not isinstance(requested, (int, np.integer)) or requested < 1:
        raise ValueError(f"n_components: expected a positive integer or None, got {requested!r}")
    if requested > allowed:
        raise ValueError(f"n_components: {requested} is more than the {allowed} allowed here ({why})")
    return int(requested)


def check_square_width(width: int, argument: str, what: str, remedy: str) -> None:
    """A one-line ValueError naming ARGUMENT when a WIDTH x WIDTH float64 matrix passes MAX_SQUARE_BYTES."""
    need = 8 * width * width
    if need > MAX_SQUARE_BYTES:
        most = math.isqrt(MAX_SQUARE_BYTES // 8)
        raise ValueError(f"{argument}: {what} builds {width} x {width} float64 matrices of {need / 2**30:.1f} GiB "
                         f"each, more than the {MAX_SQUARE_BYTES / 2**30:g} GiB allowed (width at most {most}); "
                         f"{remedy}")
