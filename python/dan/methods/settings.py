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

import math
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

#: the types a setting may have (the stored configuration is checked against them on load)
TYPES = ("int", "float", "bool", "str")


@dataclass(frozen=True)
class Setting:
    """A setting that only some methods read (DAN's ``--estimator``, JAN's ``--kernel-mul``, ...):
    declared in a :class:`dan.methods.Method`'s ``settings``, it becomes a TrainConfig field
    ``name`` and the ``dan train`` flag ``--name`` with ``help``, checked against ``type`` and the
    range [``low``, ``high``], and refused for the methods that do not declare it."""

    name: str                 # the TrainConfig field and, with - for _, the CLI flag
    type: str                 # one of TYPES
    default: Any
    help: str
    optional: bool = False    # None allowed (and then ``help`` says what None means)
    identity: bool = True     # part of the run's identity: a resume with another value is refused
    missing: str = "such setting"  # completes "method M has no ..." for the methods without it
    low: Optional[float] = None   # numbers: the range a value must lie in (low excluded if low_open)
    high: Optional[float] = None
    low_open: bool = False

    @property
    def flag(self) -> str:
        """The CLI flag, ``--`` and the name with ``-`` for ``_``."""
        return flag(self.name)

    @property
    def annotation(self) -> str:
        """The TrainConfig field's type annotation, ``Optional[...]`` when None is allowed."""
        return f"Optional[{self.type}]" if self.optional else self.type


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_number(name: str, v, low: float, high: float = math.inf, low_open: bool = False,
                 high_open: bool = True) -> None:
    """A finite number in the range, or a one-line ValueError naming the flag."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ok = ok and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        lo = f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high == math.inf else f" and {'<' if high_open else '<='} {high:g}"
        raise ValueError(f"{flag(name)} must be a finite number {lo}{hi}, got {v!r}")


def check_integer(name: str, v, low: int, high: Optional[int] = None) -> None:
    """An integer (not a bool) in the range, or a one-line ValueError naming the flag."""
    if isinstance(v, bool) or not isinstance(v, int) or v < low or (high is not None and v > high):
        raise ValueError(f"{flag(name)} must be an integer >= {low}{f' and <= {high}' if high is not None else ''}, "
                         f"got {v!r}")


def check_value(setting: Setting, value) -> None:
    """A declared setting's value: its type, and its range where it has one."""
    if value is None and setting.optional:
        return
    if setting.type == "int" and setting.low is not None:
        check_integer(setting.name, value, int(setting.low), None if setting.high is None else int(setting.high))
    elif setting.type == "float" and setting.low is not None:
        check_number(setting.name, value, setting.low, math.inf if setting.high is None else setting.high,
                     low_open=setting.low_open)
    elif setting.type == "bool" and not isinstance(value, bool):
        raise ValueError(f"{setting.flag} must be true or false, got {value!r}")


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
    value would be stored in a run that never read it); a declared one must have its type and
    range. One-line ValueError naming the flag."""
    mine = {s.name for s in method.settings}
    for s in declared(methods).values():
        if s.name not in mine and getattr(cfg, s.name) != s.default:
            raise ValueError(f"{s.flag}: method {method.name} has no {s.missing} ({s.flag} belongs to "
                             f"{', '.join(users(s.name, methods))})")
    for s in method.settings:
        check_value(s, getattr(cfg, s.name))


def reset_undeclared(values: Dict[str, Any], method, methods) -> Dict[str, Any]:
    """``values`` with every setting ``method`` does not declare at its default: how a run of one
    method is derived from settings meant for several (dan ablate), and how a configuration stored
    before methods owned their settings is upgraded."""
    mine, every = {s.name for s in method.settings}, declared(methods)
    return {k: (v if k in mine or k not in every else every[k].default) for k, v in values.items()}


def identity(method) -> Tuple[str, ...]:
    """The declared settings of ``method`` that identify its runs."""
    return tuple(s.name for s in method.settings if s.identity)
