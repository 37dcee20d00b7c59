"""A run folder belongs to one run.

* Starting in a folder that already holds a run refuses, unless the caller continues it
  (``--resume``) or replaces it (``--overwrite``): a finished run is never overwritten silently.
* An OS file lock (``flock`` on OUT/.lock) is held for the life of the process. A second process
  starting in the same folder fails at once with an error naming the folder and the holder; a
  crashed or killed run holds nothing, since the kernel drops the lock with the process.
* Temporary files that a killed process left mid-write are removed on start, under the lock.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import List, Optional

from .checkpoint import CHECKPOINT, remove_stale_temporaries

LOCK = ".lock"
RUN_FILES = (CHECKPOINT, "result.json", "log.json", "log.csv")  # what a dan train run writes
MODES = ("new", "resume", "overwrite", "continue")  # continue: resume when a checkpoint exists, else new


class RunFolderBusy(RuntimeError):
    """Another live process holds the folder's lock."""


def run_files(folder: Path) -> List[str]:
    return [name for name in RUN_FILES if (folder / name).exists()]


class RunFolder:
    """Context manager owning ``path`` for one run. ``resuming`` says whether the caller must load
    the checkpoint. ``lock=False`` (ranks other than 0 under torchrun) only checks the rules."""

    def __init__(self, path, mode: str = "new", lock: bool = True, what: str = "--out"):
        if mode not in MODES:
            raise ValueError(f"run folder mode must be one of {MODES}, got {mode!r}")
        self.path, self.mode, self.lock, self.what = Path(path), mode, lock, what
        self.resuming = False
        self._fd: Optional[int] = None

    def __enter__(self) -> "RunFolder":
        if self.lock:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ValueError(f"{self.what} {self.path}: cannot create the run folder ({err.strerror})") from None
            self._acquire()
            remove_stale_temporaries(self.path)
        try:
            self._apply_rules()
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _acquire(self) -> None:
        lock_path = self.path / LOCK
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise ValueError(f"{self.what} {self.path}: cannot write in the run folder ({err.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip()
            os.close(fd)
            try:
                info = json.loads(holder)
                who = (f"process {info['pid']} on {info['host']} ({info['command']}, "
                       f"started {info['started']})")
            except (ValueError, KeyError, TypeError):
                who = "another process"
            raise RunFolderBusy(f"run folder {self.path} is in use by {who}; wait for it to finish or "
                                f"choose another {self.what}") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "command": " ".join(["dan", *sys.argv[1:]])[:200],
                                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        self._fd = fd

    def _apply_rules(self) -> None:
        present = run_files(self.path)
        has_checkpoint = CHECKPOINT in present
        if self.mode == "resume":
            if not has_checkpoint:
                raise FileNotFoundError(f"no checkpoint at {self.path / CHECKPOINT} to resume from")
            self.resuming = True
        elif self.mode == "continue":
            self.resuming = has_checkpoint
        elif self.mode == "new" and present:
            raise ValueError(f"{self.what} {self.path} already holds a run ({', '.join(present)}): pass --resume to "
                             f"continue it, --overwrite to replace it, or choose another {self.what}")
        elif self.mode == "overwrite" and self.lock:
            for name in present:
                (self.path / name).unlink()

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
