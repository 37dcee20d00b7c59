"""Files written whole or not at all: every file a run writes goes to NAME.tmp<pid> beside NAME,
is flushed to disk, then renamed over NAME, so a kill or a full disk never leaves a truncated
result.json, log or checkpoint in place of the last good one. A write that fails for lack of
space says so in one line naming the file, and leaves no temporary file behind."""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Callable, IO

TMP_INFIX = ".tmp"  # NAME.tmp<pid>; run_folder.py removes exactly these names when a killed run left them
_NO_SPACE = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file too large"}


class DiskFullError(OSError):
    """Writing a file failed for lack of space (or quota, or the file size limit)."""


def temporary_name(path: Path) -> Path:
    return path.with_name(f"{path.name}{TMP_INFIX}{os.getpid()}")


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync it, and rename it over ``path``."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        reason = _no_space_reason(err)
        if reason:
            raise DiskFullError(err.errno if isinstance(err, OSError) else errno.ENOSPC,
                                f"{reason} writing {path}; the previous {path.name} (if any) is unchanged") from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _no_space_reason(err: BaseException):
    """'no space left' (or the like) when ``err`` or what caused it is a full disk."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in _NO_SPACE:
            return _NO_SPACE[err.errno]
        err = err.__cause__ or err.__context__
    return None
