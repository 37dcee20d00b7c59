"""The methods ``dan train --method`` accepts: each is a Penalty (penalty.py, the seam) and the
settings it checks. A new method is one file that defines its Penalty and a Method, plus one line
below; the trainer, the CLI, ``dan ablate`` and the checkpoints take it from there.

    source_only, ddc, dan7, dan8, dan_sk, dan, dan_uniform   mkmmd.py (one MK-MMD penalty, DANLoss)
    coral                                                     coral.py (Deep CORAL)
    dann                                                      dann.py (DANN, gradient reversal)
    jan                                                       jan.py (JAN, joint MMD, dan_ext.jmmd_linear)
"""
from __future__ import annotations

from typing import Dict

from dan.methods import coral
from dan.methods import dann
from dan.methods import jan
from dan.methods import mkmmd
from dan.methods.dan_loss import DANLoss
from dan.methods.penalty import Method, Penalty

#: every method ``dan train --method`` accepts, by name: DAN's seven configurations, then coral, dann, jan
METHODS: Dict[str, Method] = {
    **mkmmd.methods(),
    "coral": coral.METHOD,
    "dann": dann.METHOD,
    "jan": jan.METHOD,
}
#: what ``dan ablate`` runs by default: the paper's table (source_only, ddc, dan7, dan8, dan_sk, dan) and dan_uniform
ABLATION = tuple(mkmmd.CONFIGS)


def get_method(name: str) -> Method:
    """The :class:`Method` registered as ``name`` in :data:`METHODS`; an unknown name is a ValueError
    that lists the known ones."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}: expected one of {', '.join(METHODS)}") from None


__all__ = ["ABLATION", "DANLoss", "METHODS", "Method", "Penalty", "get_method"]
