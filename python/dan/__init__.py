"""DAN: deep adaptation networks on top of dan_ext (see README).

For your own training loop: ``dan.DANLoss`` (DAN's penalty over several layers, with its
bandwidths and beta solver); for a method of your own in ``dan train``: ``dan.Penalty``
(methods/penalty.py).

The rooms: ``data`` (domains, image folders, the epoch plan), ``models`` (backbones, networks),
``methods`` (the penalties and DAN's beta solver), ``runs`` (run folders, checkpoints, logs),
``commands`` (the CLI); ``config``, ``trainer`` and ``distributed`` at the top."""
from dan_ext._moved import install as _install_old_paths

from ._moved import MOVED as _MOVED
from .methods import DANLoss, Penalty

_install_old_paths(_MOVED)

__all__ = ["DANLoss", "Penalty"]
