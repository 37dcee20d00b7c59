"""The .npy feature files that ``dan test`` compares: one array of samples x features each.

The header is read and checked before any data is: the shape and dtype it declares must fit in the
file (a truncated file, or a crafted header claiming 1e11 rows, is refused instead of allocating
terabytes) and in memory as float64 (at most half the machine's memory), and the dtype must be
real numbers (integers, floats or booleans): complex values would lose their imaginary part,
and strings, objects, dates or records are not features. Every refusal is one line naming the file.
"""
from __future__ import annotations

import math
import os
import stat

import numpy as np

REAL_KINDS = "biuf"  # bool, signed and unsigned integers, floats: converted to float64 without loss of meaning
KIND_NAMES = {"c": "complex", "O": "Python objects, never unpickled: allow_pickle=False", "U": "text", "S": "bytes", "V": "records (structured)",
              "M": "dates", "m": "time spans"}


def memory_bound() -> int:
    """Bytes a feature file may take as float64: half the machine's physical memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):  # no sysconf: a fixed 8 GiB
        return 8 << 30


def npy_header(f, name: str):
    """(shape, dtype) from the header of the .npy file F (named NAME in errors), leaving F at its
    data; a ValueError for a file that is not .npy version 1.0 or 2.0 (as np.save writes)."""
    version = np.lib.format.read_magic(f)
    read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in read:
        raise ValueError(f"{name}: .npy format version {version[0]}.{version[1]} is not read here (1.0 or 2.0, "
                         "as np.save writes)")
    shape, _, dtype = read[version](f)
    return shape, dtype


def _header(name: str):
    """(shape, dtype, bytes of data the header promises, bytes of data the file holds)."""
    try:
        if not stat.S_ISREG(os.stat(name).st_mode):  # a FIFO would block the read, a device never end
            raise ValueError(f"{name} is not a regular file (a folder, pipe or device); dan test reads .npy files")
        with open(name, "rb") as f:
            if f.read(2) == b"PK":  # a zip: np.savez's archive
                raise ValueError(f"{name} is an .npz archive; dan test takes two .npy files of one array each "
                                 "(np.save)")
            f.seek(0)
            shape, dtype = npy_header(f, name)
            offset = f.tell()
            held = os.fstat(f.fileno()).st_size - offset
    except ValueError as err:
        if str(err).startswith(name):
            raise
        raise ValueError(f"cannot read {name}: {' '.join(str(err).split())}") from None
    except OSError as err:
        raise ValueError(f"cannot read {name}: {err.strerror or err}") from None
    return shape, dtype, math.prod(shape) * dtype.itemsize, held


def read_sample(name: str, min_rows: int = 2, why: str = ""):
    """A .npy file as a float64 [rows, features] tensor with at least ``min_rows`` rows (``why``
    says what they are needed for) and one feature, or a one-line ValueError naming the file."""
    import torch

    shape, dtype, promised, held = _header(name)
    if dtype.kind not in REAL_KINDS:
        what = KIND_NAMES.get(dtype.kind, "not numbers")
        raise ValueError(f"{name} holds dtype {dtype} ({what}); dan test takes real numbers (integers, floats or "
                         "booleans)" + ("; for complex features pass the real and imaginary parts as columns"
                                        if dtype.kind == "c" else ""))
    if held < promised:
        raise ValueError(f"{name} is truncated or its header is wrong: shape {shape} of {dtype} needs {promised} "
                         f"bytes of data, the file holds {held}")
    needed = 8 * math.prod(shape) + promised  # the array as read and its float64 copy
    if needed > memory_bound():
        raise ValueError(f"{name}: shape {shape} of {dtype} needs {needed / 2**30:.1f} GiB to read as float64, more "
                         f"than dan test allows ({memory_bound() / 2**30:.1f} GiB, half this machine's memory)")
    if len(shape) == 0:
        raise ValueError(f"{name} holds a 0-d array (one number); expected samples x features")
    # Checked before the reshape, which cannot infer the feature count of an array without rows.
    if shape[0] < min_rows:
        raise ValueError(f"{name} has {shape[0]} row(s) (shape {shape}): dan test needs at least {min_rows} "
                         f"rows (samples){why}")
    if math.prod(shape[1:]) < 1:
        raise ValueError(f"{name} has no features (shape {shape}): dan test needs at least one feature per row")
    try:
        arr = np.load(name, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"cannot read {name}: {err}") from None
    arr = np.ascontiguousarray(arr.reshape(arr.shape[0], -1), dtype=np.float64)
    bad = int(arr.size - np.isfinite(arr).sum())
    if bad:
        raise ValueError(f"{name} holds {bad} non-finite value(s) (NaN or Inf) of {arr.size}; remove or impute them")
    return torch.from_numpy(arr)
