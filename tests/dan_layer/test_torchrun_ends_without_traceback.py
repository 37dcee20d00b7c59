"""A refused or interrupted job launched with ``python -m dan.launch`` (torchrun's arguments) ends
with dan's one line, torchrun's summary of the failed ranks and the worker's exit status, never a
Python traceback. Plain torchrun raises ChildFailedError (a worker exited non-zero) or
SignalException (it was signalled) out of its own main(), which Python prints as a traceback of
torchrun's frames, whatever the workers' exit codes; for real, with two gloo ranks."""
import os
import signal
import socket
import subprocess
import sys
import time

from cli_helpers import FAST, child_env


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tmp_path, *args):
    cmd = [sys.executable, "-m", "dan.launch", "--nproc_per_node", "2", "--master_port", str(_port()),
           "-m", "dan", "train", *FAST, "--out", str(tmp_path / "run"), *args]
    return subprocess.Popen(cmd, cwd=tmp_path, env=child_env(OMP_NUM_THREADS="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(proc, timeout):
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the ranks too
            proc.communicate()


def test_a_refused_job_ends_with_dans_line_and_the_summary(tmp_path):
    proc = _launch(tmp_path, "--epochs", "1", "--iters-per-epoch", "2", "--batch-size", "6")
    _, err = _finish(proc, 300)
    assert proc.returncode == 2, err[-3000:]  # the workers' status: a refused argument
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("dan train:")]
    assert lines == ["dan train: error: --batch-size 6 under torchrun with 2 ranks must be a multiple of 2 x 2 = 4, "
                     "so every rank gets an equal slice of whole pairs of rows"], err[-3000:]
    assert "dan FAILED" in err and "exitcode  : 2" in err  # torchrun's own summary, kept
    # showing dan's line (from the worker's error file), not "To enable traceback see: ..."
    assert "traceback : dan train: error: --batch-size 6 under torchrun" in err, err[-3000:]
    assert "To enable traceback" not in err


def test_an_interrupted_job_ends_with_dans_line_and_no_traceback(tmp_path):
    proc = _launch(tmp_path, "--epochs", "200", "--iters-per-epoch", "3", "--batch-size", "8")
    try:
        deadline = time.time() + 180
        while not (tmp_path / "run" / "log.json").exists():  # both ranks train (one epoch is done)
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.time() < deadline, "the run did not start"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)  # the launcher alone, as `kill -INT` would
        _, err = _finish(proc, 120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (proc.returncode, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    assert err.count("dan train: interrupted") == 1, err[-3000:]
    assert "dan.launch: stopped by SIGINT" in err


def test_the_launchers_own_failure_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cmd = [sys.executable, "-m", "dan.launch", "--nproc_per_node", "2", "--master_port",
               str(taken.getsockname()[1]), "-m", "dan", "train", *FAST, "--out", str(tmp_path / "run")]
        r = subprocess.run(cmd, cwd=tmp_path, env=child_env(OMP_NUM_THREADS="1"), capture_output=True, text=True,
                           timeout=300)
    assert r.returncode == 1, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.stderr.strip().splitlines()[-1].startswith("dan.launch: error: "), r.stderr[-3000:]
    assert "address already in use" in r.stderr
