"""The paper's variants (Table 1/2 of Long et al. 2015) as configurations of one DAN model.

A method names the adapted layers it penalises by role, so it applies to every backbone
(models.py lists each backbone's adapted layers, the last being the logits):
"penultimate" (DAN7 and DDC: fc7 on AlexNet and digits_cnn, the bottleneck on the others),
"logits" (DAN8: fc8 / logits) and "all" (DAN and DAN_SK: fc6-fc8, or bottleneck and logits)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple


@dataclass(frozen=True)
class Method:
    name: str
    roles: Tuple[str, ...]    # which adapted layers get the MMD penalty: penultimate, logits, all
    kernel_num: int           # 1 = single Gaussian kernel at the mean distance
    learn_betas: bool         # solve DAN's QP for the kernel weights
    description: str

    def layers(self, adapted: Sequence[str]) -> Tuple[str, ...]:
        """The names of the penalised layers of a network whose adapted layers are ``adapted``."""
        picked = []
        for role in self.roles:
            picked += {"all": list(adapted), "logits": [adapted[-1]], "penultimate": [adapted[-2]]}[role]
        return tuple(dict.fromkeys(picked))


METHODS = {
    "source_only": Method("source_only", (), 1, False, "CNN: source labels only (lambda = 0)"),
    "ddc": Method("ddc", ("penultimate",), 1, False, "DDC: one kernel, one layer (penultimate)"),
    "dan7": Method("dan7", ("penultimate",), 5, True, "DAN7: multi-kernel, penultimate layer only"),
    "dan8": Method("dan8", ("logits",), 5, True, "DAN8: multi-kernel, logits only"),
    "dan_sk": Method("dan_sk", ("all",), 1, False, "DAN_SK: single kernel, all adapted layers"),
    "dan": Method("dan", ("all",), 5, True, "DAN: multi-kernel, all adapted layers, learned beta"),
    # Not in the paper: DAN with beta fixed at 1/m, to measure what learning beta adds.
    "dan_uniform": Method("dan_uniform", ("all",), 5, False, "DAN, uniform beta: multi-kernel, all layers, beta = 1/m"),
}
PAPER_METHODS = ("source_only", "ddc", "dan7", "dan8", "dan_sk", "dan")


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}: expected one of {', '.join(METHODS)}") from None
