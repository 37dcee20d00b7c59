"""A run folder belongs to one run.

* Starting in a folder that already holds a run refuses, unless the caller continues it
  (``--resume``) or replaces it (``--overwrite``): a finished run is never overwritten silently.
* An OS file lock (``flock`` on OUT/.lock) is held for the life of the process. A second process
  starting in the same folder fails at once with an error naming the folder and the holder; a
  crashed or killed run holds nothing, since the kernel drops the lock with the process.
* Nothing in the folder is deleted until the run is accepted (``accept()``, called once the data
  is found, the classes compared and the network built): a refused run leaves the folder as it was
  (and removes the folder if it created it). Then ``--overwrite`` removes the old run's files, and
  the temporary files a killed run of ours left mid-write are removed: only the exact names this
  program writes (NAME.tmp<pid> for each run file, the pid no longer running), never a user's file.
* The lock file is opened without following symlinks: a planted OUT/.lock -> elsewhere is refused
  and nothing it points to is touched.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import sys
import time
from pathlib import Path
from typing import List, Optional

from dan.runs.atomic import remove_stale_temporaries
from dan.runs.checkpoint import CHECKPOINT

LOCK = ".lock"
RUN_FILES = (CHECKPOINT, "result.json", "log.json", "log.csv")  # what a dan train run writes
TABLE_FILES = ("results.md", "results.json", "results.png")  # what dan ablate and dan benchmark write
KINDS = ("run", "table")  # a dan train run's folder, or an ablation's or benchmark's
MODES = ("new", "resume", "overwrite", "continue")  # continue: resume when a checkpoint exists, else new


class RunFolderBusy(RuntimeError):
    """Another live process holds the folder's lock."""


def run_files(folder: Path) -> List[str]:
    return [name for name in RUN_FILES if (folder / name).exists()]


class RunFolder:
    """Context manager owning ``path`` for one run. ``resuming`` says whether the caller must load
    the checkpoint. ``lock=False`` (ranks other than 0 under torchrun) only checks the rules."""

    def __init__(self, path, mode: str = "new", lock: bool = True, what: str = "--out", kind: str = "run",
                 resumable: bool = True):
        if mode not in MODES:
            raise ValueError(f"run folder mode must be one of {MODES}, got {mode!r}")
        if kind not in KINDS:
            raise ValueError(f"run folder kind must be one of {KINDS}, got {kind!r}")
        self.path, self.mode, self.lock, self.what, self.kind = Path(path), mode, lock, what, kind
        self.resumable = resumable  # whether the command has a --resume to suggest (dan classic has none)
        self.resuming = False
        self.accepted = False
        self._fd: Optional[int] = None
        self._created: List[Path] = []  # the folders this start created, deepest first

    def __enter__(self) -> "RunFolder":
        if self.lock:
            if self.path.exists() and not self.path.is_dir():
                raise ValueError(f"{self.what} {self.path} exists and is not a folder")
            self._created = [p for p in (self.path, *self.path.parents) if not p.exists()]
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ValueError(f"{self.what} {self.path}: cannot create the run folder ({err.strerror})") from None
        try:
            if self.lock:
                self._acquire()
            self._apply_rules()
        except BaseException:
            self._undo()
            raise
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None and not self.accepted:
            self._undo()
        self.release()

    def accept(self) -> None:
        """The run is going ahead: now replace the old run (``overwrite``) and remove what killed runs
        of ours left mid-write. Until this is called nothing in the folder has been deleted."""
        if self.accepted:
            return
        self.accepted = True
        if not self.lock:
            return
        if self.mode == "overwrite":
            for name in run_files(self.path):
                (self.path / name).unlink()
        remove_stale_temporaries(self.path, RUN_FILES)

    def _undo(self) -> None:
        """A refused start: drop the lock, and the folder itself if this start created it and held
        its lock (a start that lost the lock to another process never touches that one's folder)."""
        if self._created and self._fd is not None:
            try:
                (self.path / LOCK).unlink()  # while still holding it
                self.release()
                for folder in self._created:  # the run folder, then the parents this start made
                    folder.rmdir()
            except OSError:
                pass  # something else appeared in it meanwhile: leave it
        self.release()

    def _acquire(self) -> None:
        lock_path = self.path / LOCK
        try:  # never through a symlink: a planted .lock must not let us truncate another file
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise ValueError(f"{self.what} {self.path}: {LOCK} is a symbolic link; remove it (nothing was "
                                 "written through it)") from None
            raise ValueError(f"{self.what} {self.path}: cannot write in the run folder ({err.strerror})") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:  # a hard link would let us rewrite another file
            os.close(fd)
            raise ValueError(f"{self.what} {self.path}: {LOCK} is not a regular file of its own "
                             f"({'it has other names (hard links)' if stat.S_ISREG(st.st_mode) else 'not a file'}); "
                             "remove it")
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
        ours = RUN_FILES if self.kind == "run" else TABLE_FILES
        odd = [n for n in ours if (self.path / n).exists() and not (self.path / n).is_symlink()
               and not (self.path / n).is_file()]
        if odd:  # found now, not after an epoch (or after --overwrite deleted the rest)
            raise ValueError(f"{self.what} {self.path}: {', '.join(odd)} is not a file (a folder or a device); "
                             "move it away")
        other = [n for n in (TABLE_FILES if self.kind == "run" else RUN_FILES) if (self.path / n).exists()]
        if other:
            held = "an ablation's or benchmark's table" if self.kind == "run" else "a dan train run"
            raise ValueError(f"{self.what} {self.path} holds {held} ({', '.join(other)}); choose another {self.what}")
        present = run_files(self.path)
        has_checkpoint = CHECKPOINT in present
        if self.mode == "resume":
            if not has_checkpoint:
                raise FileNotFoundError(f"no checkpoint at {self.path / CHECKPOINT} to resume from")
            self.resuming = True
        elif self.mode == "continue":
            self.resuming = has_checkpoint
        elif self.mode == "new" and present:
            resume = "--resume to continue it, " if self.resumable else ""
            raise ValueError(f"{self.what} {self.path} already holds a run ({', '.join(present)}): pass {resume}"
                             f"--overwrite to replace it, or choose another {self.what}")
        # "overwrite" deletes in accept(), once the run is known to go ahead

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def read_finished(done: Path, cfg) -> dict:
    """A finished run's result.json, to be reused in place of training ``cfg`` (dan ablate and dan
    benchmark --resume): it must be readable and from a run trained the same way."""
    from dan.config import check_same_run

    try:
        result = json.loads(Path(done).read_text())
        if not isinstance(result, dict):
            raise ValueError(f"holds a {type(result).__name__}, not a run's result")
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {done} ({err}); remove it to retrain that run, or use --overwrite") from None
    check_same_run(result.get("config", {}), cfg, done)
    return result
