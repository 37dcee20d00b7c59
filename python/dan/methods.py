"""The paper's variants (Table 1/2 of Long et al. 2015) as configurations of one DAN model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class Method:
    name: str
    layers: Tuple[str, ...]   # adapted layers penalised with MMD
    kernel_num: int           # 1 = single Gaussian kernel at the mean distance
    learn_betas: bool         # solve DAN's QP for the kernel weights
    description: str


METHODS = {
    "source_only": Method("source_only", (), 1, False, "CNN: source labels only (lambda = 0)"),
    "ddc": Method("ddc", ("fc7",), 1, False, "DDC: one kernel, one layer (penultimate)"),
    "dan7": Method("dan7", ("fc7",), 5, True, "DAN7: multi-kernel, penultimate layer only"),
    "dan8": Method("dan8", ("fc8",), 5, True, "DAN8: multi-kernel, logits only"),
    "dan_sk": Method("dan_sk", ("fc6", "fc7", "fc8"), 1, False, "DAN_SK: single kernel, all adapted layers"),
    "dan": Method("dan", ("fc6", "fc7", "fc8"), 5, True, "DAN: multi-kernel, all adapted layers, learned beta"),
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}: expected one of {', '.join(METHODS)}") from None
