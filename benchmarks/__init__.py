"""Benchmarks of dan_ext (pytest-benchmark suite, report, fresh-input check, GPU check).

Run from the repository root, e.g. ``python -m benchmarks.report``. The source tree holds a
dan_ext without its compiled module; move the repository root behind site-packages so that the
installed package (with its kernels) is the one imported.
"""
import os
import sys

_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _root] + [_root]
