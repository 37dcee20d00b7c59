"""Files that commands write for the user (dan plot's and dan plot-betas' pictures and their
summaries, dan predict's CSV): an existing file is replaced only with --overwrite, a run's own files
(checkpoint.pt, result.json, log.json, log.csv, .lock) never, and every file is written to a
temporary file in the same folder (atomic.write_temporary) and then renamed into place, so a failure
never leaves half a file. Without --overwrite the final placement is itself no-clobber (a hard
link, which fails if the file appeared meanwhile), so two commands writing the same file never both
report success. An output whose folder is a file (or would be created under one), or cannot be
written (a read-only file system, no permission), is refused before any work, naming the folder."""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Dict, Optional

from dan.runs.atomic import remove_stale_temporaries, write_temporary


def is_run_file(path: Path) -> bool:
    """PATH is one of the files a run keeps in its folder (dan train's RUN_FILES or the lock, an
    ablation's or benchmark's TABLE_FILES), in a folder that holds such a run."""
    from dan.runs.folder import LOCK, RUN_FILES, TABLE_FILES

    path = Path(os.path.abspath(path))
    for names in (RUN_FILES + (LOCK,), TABLE_FILES + (LOCK,)):
        if path.name in names and any((path.parent / n).exists() for n in names if n != LOCK):
            return True
    return path.name == LOCK


def check_output(path: Path, flag: str, overwrite: bool, what: Optional[str] = None) -> Path:
    """Refuse, before any work, an output file that may not be written: a directory, a run's own
    file (even with --overwrite), or an existing file without --overwrite. One-line ValueErrors;
    WHAT names the file in them (default: FLAG PATH)."""
    what = what or f"{flag} {path}"
    if str(path).endswith(os.sep):
        raise ValueError(f"{what} names a folder; give a file to write, e.g. {flag} {Path(path) / 'NAME'}")
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise ValueError(f"{what} is not a file name; give a file to write, e.g. {flag} out/NAME")
    if path.is_dir():
        raise ValueError(f"{what} is a directory; give a file to write, e.g. {flag} {path / 'NAME'}")
    check_folder(path.parent, what, "its folder")
    check_writable(path.parent, what)
    if is_run_file(path):
        raise ValueError(f"{what} is a file of the run in {path.parent}, which is never replaced (not even with "
                         f"--overwrite); choose another {flag}")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise ValueError(f"{what} exists; pass --overwrite to replace it, or choose another {flag}")
    return path


def _nearest_existing(path: Path) -> Path:
    """PATH itself, or its nearest parent that exists (the folder that creating PATH would write in)."""
    path = Path(os.path.abspath(path))
    while not (path.exists() or path.is_symlink()) and path != path.parent:
        path = path.parent
    return path


def check_folder(folder: Path, what: str, role: Optional[str] = None) -> None:
    """A one-line ValueError when FOLDER, or the nearest of its parents that exists, is not a folder
    (creating it would fail with a bare 'File exists' or 'Not a directory'). WHAT names the
    argument; ROLE what FOLDER is to it (default: WHAT itself)."""
    found = _nearest_existing(folder)
    if found.is_dir():
        return
    kind = "a file" if found.is_file() else "a broken link" if found.is_symlink() else "a pipe, socket or device"
    whose = f"{what}: {role} {folder}" if role else f"{what} {folder}"
    if found == Path(os.path.abspath(folder)):
        raise ValueError(f"{whose} is {kind}, not a folder; give a folder's path")
    raise ValueError(f"{whose} cannot be created: {found} is {kind}, not a folder; give a path under a folder")


def check_writable(folder: Path, what: str) -> None:
    """A one-line ValueError when the folder that would hold a new file under FOLDER (FOLDER, or its
    nearest parent that exists) cannot be written: a read-only file system, or no permission."""
    found = _nearest_existing(folder)
    if os.access(found, os.W_OK):
        return
    read_only = bool(os.statvfs(found).f_flag & os.ST_RDONLY)
    why = "it is on a read-only file system" if read_only else "this user may not write in it"
    raise ValueError(f"{what}: the folder {found} is not writable ({why}); choose an output in a writable folder")


def place(tmp: Path, path: Path, overwrite: bool, flag: str) -> None:
    """Move the finished temporary file TMP to PATH. With ``overwrite`` an existing PATH is replaced
    (os.replace); without, PATH must still not exist: a hard link is made (which fails if PATH
    appeared since the check) and TMP removed, so nothing another process wrote is replaced."""
    if overwrite:
        if is_run_file(path):  # checked before the work too; the folder may have become a run since
            raise ValueError(f"{path} is a file of the run in {path.parent}, which is never replaced; choose "
                             f"another {flag}")
        os.replace(tmp, path)
        return
    appeared = FileExistsError(f"{flag} {path} was created by another process while this one ran; it is kept "
                               f"and nothing was written: pass --overwrite to replace it, or choose another {flag}")
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise appeared from None
    except OSError as err:  # a file system without hard links: exclusive create, then copy
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise appeared from None
        try:
            with os.fdopen(fd, "wb") as dst, open(tmp, "rb") as src:
                shutil.copyfileobj(src, dst)
                dst.flush()
                os.fsync(dst.fileno())
        except BaseException:
            os.unlink(path)
            raise
    os.unlink(tmp)


def write_outputs(writers: Dict[Path, Callable], overwrite: bool, flag: str = "--out") -> None:
    """Write every PATH with WRITER(binary file) atomically: all temporary files first, then each
    placed (``place``). On any failure the temporary files are removed, and so are the files this
    call already placed when they were new (without --overwrite), so no half output stays."""
    placed, tmps = [], []
    try:
        for path, writer in writers.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(path.parent, [path.name])
            tmps.append(write_temporary(path, writer))
        for path, tmp in zip(writers, tmps):
            place(tmp, path, overwrite, flag)
            placed.append(path)
    except BaseException:
        if not overwrite:
            for path in placed:
                path.unlink(missing_ok=True)
        raise
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)


def figure_outputs(out: Path, flag: str, overwrite: bool):
    """(picture, its .json) for a figure written to OUT, both checked with ``check_output``; OUT's
    suffix must be a format matplotlib writes."""
    from matplotlib.figure import Figure

    formats = Figure().canvas.get_supported_filetypes()
    fmt = out.suffix[1:].lower()
    if fmt not in formats:
        raise ValueError(f"{flag} must end in .png (or another picture format: {', '.join(sorted(formats))}), "
                         f"got {out}")
    js = out.with_suffix(".json")
    return (check_output(out, flag, overwrite),
            check_output(js, flag, overwrite, what=f"{js} (the summary written beside {flag} {out})"), fmt)


def save_figure(fig, out: Path, fmt: str, summary: dict, overwrite: bool, flag: str = "--out") -> None:
    """The figure at OUT and the summary at OUT.json, atomically (``write_outputs``)."""
    write_outputs({out: lambda f: fig.savefig(f, format=fmt, dpi=110),
                   out.with_suffix(".json"): lambda f: f.write(json.dumps(summary, indent=2).encode())},
                  overwrite, flag)
