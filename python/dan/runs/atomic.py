"""Files written whole or not at all: every file a run writes goes to NAME.tmp<pid> beside NAME,
is flushed to disk, then renamed over NAME, so a kill or a full disk never leaves a truncated
result.json, log or checkpoint in place of the last good one. A write that fails for lack of
space says so in one line naming the file, and leaves no temporary file behind."""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import IO, Callable, List

TMP_INFIX = ".tmp"  # NAME.tmp<pid>; remove_stale_temporaries removes exactly these names when a killed writer left them
_NO_SPACE = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file too large"}
_NOT_WRITABLE = {errno.EROFS: "a read-only file system", errno.EACCES: "permission denied"}


class DiskFullError(OSError):
    """Writing a file failed for lack of space (or quota, or the file size limit)."""


class NotWritableError(OSError):
    """A file could not be created: its folder is on a read-only file system, or not ours to write."""


def temporary_name(path: Path) -> Path:
    return path.with_name(f"{path.name}{TMP_INFIX}{os.getpid()}")


def write_temporary(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on PATH's temporary file, flush it to disk and return its name. The file is
    created afresh, never through a symlink (one planted at that name is not followed); on any
    failure it is removed, and a full disk is a DiskFullError naming PATH."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        tmp.unlink(missing_ok=True)  # a leftover of an earlier process with our (reused) pid
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as err:
        _discard(tmp)
        reason = no_space_reason(err)
        if reason:
            raise DiskFullError(err.errno if isinstance(err, OSError) else errno.ENOSPC,
                                f"{reason} writing {path}; the previous {path.name} (if any) is unchanged") from None
        if isinstance(err, OSError) and err.errno in _NOT_WRITABLE:
            raise NotWritableError(err.errno, f"cannot write {path}: its folder {path.parent} is not writable "
                                   f"({_NOT_WRITABLE[err.errno]})") from None
        raise
    return tmp


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync it, and rename it over ``path``."""
    tmp = write_temporary(path, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink()
    except OSError:
        pass


def other_process_running(pid: int) -> bool:
    """Whether another live process has this pid (our own pid counts as not: it was reused)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or no pid at all: leave its files alone
    return True


def remove_stale_temporaries(folder: Path, names) -> List[Path]:
    """Delete the NAME.tmp<pid> files (NAME one of ``names``, exactly) in FOLDER whose writer is no
    longer running. Any other file, however much it looks like a temporary, is left alone."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = re.compile("(" + "|".join(re.escape(n) for n in names) + ")" + re.escape(TMP_INFIX) + r"(\d+)")
    removed = []
    for p in folder.iterdir():
        match = pattern.fullmatch(p.name)
        if match and (p.is_symlink() or p.is_file()) and not other_process_running(int(match.group(2))):
            p.unlink()
            removed.append(p)
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def no_space_reason(err: BaseException):
    """'no space left' (or the like) when ``err`` or what caused it is a full disk."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in _NO_SPACE:
            return _NO_SPACE[err.errno]
        err = err.__cause__ or err.__context__
    return None
