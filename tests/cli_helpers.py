"""Running the real ``dan`` command in a child process (fault tests kill it for real)."""
import os
import subprocess
import sys
import time
from pathlib import Path

# Small and fast: printed -> digits with a tiny batch count per epoch would change the data, so the
# real default domains are used with few epochs (about 0.5 s per epoch on 2 cores).
FAST = ["--source", "printed", "--target", "digits", "--quiet"]


def child_env(**extra) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONUNBUFFERED="1")
    env.pop("DAN_DEBUG", None)
    env.update(extra)
    return env


def dan_cmd(*args) -> list:
    return [sys.executable, "-m", "dan", *map(str, args)]


def run_dan(tmp_path: Path, *args, timeout=300, **env) -> subprocess.CompletedProcess:
    # cwd outside the repository: `python -m` puts the cwd first on sys.path, and the source
    # tree's dan_ext has no compiled module
    return subprocess.run(dan_cmd(*args), cwd=tmp_path, env=child_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def start_dan(tmp_path: Path, *args, script=None, **env) -> subprocess.Popen:
    cmd = [sys.executable, str(script), *map(str, args)] if script else dan_cmd(*args)
    return subprocess.Popen(cmd, cwd=tmp_path, env=child_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout=120.0, proc=None, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"child exited ({proc.returncode}) before {what}: {proc.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
