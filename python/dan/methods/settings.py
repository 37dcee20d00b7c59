"""The settings a method declares: each method owns the settings only it reads (DAN's estimator
and kernel weights, JAN's bandwidth ladder), with their type, default and help, and whether they
identify a run (a resume with another value is refused). The trainer's configuration
(dan.config.TrainConfig) holds the common settings and, beside them, every declared one; the CLI
makes a flag of each declaration; one rule (``check_declared``) refuses a setting the chosen
method does not declare, and a resume compares only the settings its method declares.

A method of your own with a setting of its own:

    LAYER = Setting("gap_layer", "str", "logits", "the layer whose mean gap is penalised",
                    missing="gap layer")
    METHOD = Method("mean_gap", "...", build, check, settings=(LAYER,))

and one line in dan.methods' METHODS; ``cfg.gap_layer`` is then its value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Tuple

#: the types a setting may have (the stored configuration is checked against them on load)
TYPES = ("int", "float", "bool", "str")


@dataclass(frozen=True)
class Setting:
    name: str                 # the TrainConfig field and, with - for _, the CLI flag
    type: str                 # one of TYPES
    default: Any
    help: str
    optional: bool = False    # None allowed (and then ``help`` says what None means)
    identity: bool = True     # part of the run's identity: a resume with another value is refused
    missing: str = "such setting"  # completes "method M has no ..." for the methods without it

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def annotation(self) -> str:
        return f"Optional[{self.type}]" if self.optional else self.type


def declared(methods: Iterable) -> Dict[str, Setting]:
    """Every setting the ``methods`` declare, by name; one declaration per name (methods that
    share a setting share the Setting object)."""
    out: Dict[str, Setting] = {}
    for m in methods:
        for s in m.settings:
            if s.type not in TYPES:
                raise TypeError(f"method {m.name}: setting {s.name} has type {s.type!r}, expected one of {TYPES}")
            if out.setdefault(s.name, s) != s:
                raise TypeError(f"method {m.name} declares {s.name} unlike another method does")
    return out


def users(name: str, methods: Iterable) -> List[str]:
    """The names of the methods that declare setting ``name``."""
    return [m.name for m in methods if any(s.name == name for s in m.settings)]


def check_declared(cfg, method, methods) -> None:
    """The one rule: a setting that ``method`` does not declare must be left at its default (a
    value would be stored in a run that never read it). One-line ValueError naming the flag."""
    mine = {s.name for s in method.settings}
    for s in declared(methods).values():
        if s.name not in mine and getattr(cfg, s.name) != s.default:
            raise ValueError(f"{s.flag}: method {method.name} has no {s.missing} ({s.flag} belongs to "
                             f"{', '.join(users(s.name, methods))})")


def reset_undeclared(values: Dict[str, Any], method, methods) -> Dict[str, Any]:
    """``values`` with every setting ``method`` does not declare at its default: how a run of one
    method is derived from settings meant for several (dan ablate), and how a configuration stored
    before methods owned their settings is upgraded."""
    mine = {s.name for s in method.settings}
    return {k: (v if k in mine or k not in _all(methods) else _all(methods)[k].default) for k, v in values.items()}


def _all(methods) -> Dict[str, Setting]:
    return declared(methods)


def identity(method) -> Tuple[str, ...]:
    """The declared settings of ``method`` that identify its runs."""
    return tuple(s.name for s in method.settings if s.identity)
