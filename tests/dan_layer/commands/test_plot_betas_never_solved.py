"""dan plot-betas on a run that stopped before its first --beta-every steps says that beta was
never solved there (how many steps it ran, how often beta is solved), not that the method has no
kernel weights (it said "method dan has no kernel weights")."""
from cli_helpers import FAST, run_dan


def test_a_run_shorter_than_beta_every_is_said_to_have_never_solved_beta(tmp_path):
    run = tmp_path / "run"
    r = run_dan(tmp_path, "train", *FAST, "--epochs", "1", "--iters-per-epoch", "3", "--batch-size", "8",
                "--beta-every", "10", "--out", run)
    assert r.returncode == 0, r.stderr
    r = run_dan(tmp_path, "plot-betas", "--run", run)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr == (f"dan plot-betas: error: --run {run}: beta was never solved in this run: it ran 3 step(s), "
                        "and beta is solved every 10 (--beta-every); train at least 10 steps to plot it\n")
    assert not (run / "betas.png").exists() and not (run / "betas.json").exists()


def test_a_method_without_kernel_weights_is_still_said_to_have_none(tmp_path):
    run = tmp_path / "run"
    r = run_dan(tmp_path, "train", *FAST, "--method", "coral", "--epochs", "1", "--iters-per-epoch", "3",
                "--batch-size", "8", "--out", run)
    assert r.returncode == 0, r.stderr
    r = run_dan(tmp_path, "plot-betas", "--run", run)
    assert r.returncode == 2 and "method coral has no kernel weights (beta) to plot" in r.stderr, r.stderr
