"""``dan predict`` on hostile or careless input: two predicts to one --out (real processes, one
stopped between its check and its write) never both succeed, a bad --out or --workers is refused
before any work and leaves no temporary file, and cells a spreadsheet would run as formulas (class
names from a crafted checkpoint, paths) are neutralised."""
import csv
import signal

import pytest

from cli_helpers import run_dan, start_dan, wait_for
from dan.runs.checkpoint import CHECKPOINT
from dan.commands.cli import main as dan_main
from image_helpers import write_unlabelled
from model_fixtures import EVIL



def _tmp_files(folder):
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


def test_two_predicts_to_one_out_never_both_write(model, tmp_path):
    """A passes its check, is stopped (SIGSTOP) while it predicts, B writes --out meanwhile; A then
    fails in one line instead of replacing B's file, and leaves no temporary file."""
    images = write_unlabelled(tmp_path / "many", n=48, size=(64, 64))
    out = tmp_path / "p.csv"
    args = ["predict", "--checkpoint", model / "run" / CHECKPOINT, "--images", images, "--out", out, "--workers", "0",
            "--quiet"]
    a = start_dan(tmp_path, *args)
    try:
        wait_for(lambda: list(tmp_path.glob("p.csv.tmp*")), timeout=240, proc=a, what="A predicting")
        a.send_signal(signal.SIGSTOP)
        b = run_dan(tmp_path, *args)
        assert b.returncode == 0 and f"wrote {out}" in b.stdout, b.stderr
        b_csv = out.read_bytes()
    finally:
        a.send_signal(signal.SIGCONT)
    a_out, a_err = a.communicate(timeout=240)
    assert a.returncode == 1 and "wrote" not in a_out, (a_out, a_err)
    assert a_err.count("\n") == 1 and f"--out {out} was created by another process while this one ran" in a_err
    assert out.read_bytes() == b_csv and len(b_csv.splitlines()) == 49  # B's file, whole
    assert _tmp_files(tmp_path) == []


@pytest.mark.parametrize("case", ["directory", "workers", "run file"])
def test_bad_out_and_workers_are_refused_before_any_work(model, tmp_path, capsys, case):
    """Refused in one line naming the argument; nothing written, no temporary file left (before,
    --out DIR --overwrite and --workers -1 failed after the work and left p.csv.tmpPID behind)."""
    images = write_unlabelled(tmp_path / "imgs", n=3)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    extra, message = {"directory": (["--out", str(mine), "--overwrite"], f"--out {mine} is a directory"),
                      "workers": (["--out", str(tmp_path / "p.csv"), "--workers", "-1"],
                                  "--workers must be an integer >= 0"),
                      "run file": (["--out", str(model / "run" / "log.csv"), "--overwrite"],
                                   "is a file of the run")}[case]
    run_before = {p.name: p.read_bytes() for p in (model / "run").iterdir() if p.is_file()}
    assert dan_main(["predict", "--checkpoint", str(model / "run" / CHECKPOINT), "--images", str(images),
                     "--quiet"] + extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["img0.jpg", "img1.jpg", "img2.jpg", "imgs", "mine",
                                                           "notes.txt"]
    assert (mine / "notes.txt").read_text() == "keep"
    assert {p.name: p.read_bytes() for p in (model / "run").iterdir() if p.is_file()} == run_before


def test_formula_cells_are_neutralised(model, tmp_path, monkeypatch, capsys):
    """Class names from a crafted checkpoint and a path that starts with = are written with a
    leading single quote, so a spreadsheet shows them as text instead of running them."""
    monkeypatch.chdir(tmp_path)
    write_unlabelled(tmp_path / "=cmd|' calc'!A0", n=4)
    assert dan_main(["predict", "--checkpoint", str(model / "evil.pt"), "--images", "=cmd|' calc'!A0",
                     "--out", "p.csv", "--workers", "0", "--quiet"]) == 0, capsys.readouterr().err
    rows = list(csv.reader((tmp_path / "p.csv").open()))
    assert rows[0] == ["path", "predicted", "probability"] and len(rows) == 5
    for path, predicted, probability in rows[1:]:
        assert path.startswith("'=cmd|' calc'!A0/img") and predicted in ["'" + c for c in EVIL]
        assert 0 < float(probability) <= 1


@pytest.mark.parametrize("text, cell", [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"),
                                        ("\tx", "'\tx"), ("\rx", "'\rx"), ("cat", "cat"), ("a=b", "a=b"),
                                        ("", "")])
def test_csv_cell(text, cell):
    from dan.commands.predict import csv_cell

    assert csv_cell(text) == cell
