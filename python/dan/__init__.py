"""DAN: deep adaptation networks on top of dan_ext (see README).

For your own training loop: ``dan.DANLoss`` (DAN's penalty over several layers, with its
bandwidths and beta solver); for a method of your own in ``dan train``: ``dan.Penalty``
(methods/penalty.py)."""
from .methods import DANLoss, Penalty

__all__ = ["DANLoss", "Penalty"]
