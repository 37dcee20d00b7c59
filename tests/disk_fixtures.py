"""Real disks for the fault tests (the machine and CI run as root): a small tmpfs that fills up
(``disk``), a read-only one (``read_only``), and the ``dan`` command under a file-size limit where
mounting is not allowed. Fixtures here are global (tests/conftest.py's pytest_plugins)."""
import os
import resource
import signal
import subprocess

import pytest

from cli_helpers import child_env, dan_cmd


@pytest.fixture
def disk(tmp_path):
    """(folder, kind): kind "tmpfs" when a 6 MB tmpfs could be mounted there, else "rlimit"."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    yield folder, ("tmpfs" if mounted else "rlimit")
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder, leave):
    """Fill the tmpfs until ``leave`` bytes are free."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def _dan(cwd, *args, fsize=None):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return subprocess.run(dan_cmd(*args), cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=300,
                          preexec_fn=limit if fsize else None)


@pytest.fixture
def read_only(tmp_path):
    """A folder that cannot be written: a read-only tmpfs (root, as CI runs), else no write permission."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                      capture_output=True).returncode == 0:
        yield folder
        subprocess.run(["umount", "-l", str(folder)], check=False)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
