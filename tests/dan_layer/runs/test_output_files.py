"""Files that ``dan plot`` and ``dan plot-betas`` write: an existing file is replaced only with
--overwrite, a run's own files (log.json, result.json, ...) never, and a failed write leaves no
half file (a real file-size limit in a real process); ``dan plot``'s "before" model must be of the
same data and network as the checkpoint, wherever it was found."""
import json
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from cli_helpers import child_env, dan_cmd
from dan.runs.checkpoint import CHECKPOINT
from dan.commands.cli import main as dan_main
from dan.config import TrainConfig
from dan.trainer import train
from dan_helpers import toy_domains

RUN_FILES = ("checkpoint.pt", "result.json", "log.json", "log.csv")


def _toy_run(out: Path, method="dan") -> Path:
    src, tgt = toy_domains()
    train(TrainConfig(source="toy", target="toy", method=method, epochs=2, batch_size=32, beta_every=2, out=str(out)),
          progress=False, source=src, target=tgt)
    return out


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    return err


# ------------------------------------------------------------------------------------- plot-betas

@pytest.mark.parametrize("name", ["log.png", "result.png"])
def test_plot_betas_never_replaces_the_runs_own_files(tmp_path, capsys, name):
    """--out RUN/log.png would put its summary at RUN/log.json: refused, with --overwrite too."""
    run = _toy_run(tmp_path / "run")
    before = _snapshot(run)
    for extra in ([], ["--overwrite"]):
        assert dan_main(["plot-betas", "--run", str(run), "--out", str(run / name), *extra]) == 2
        err = _one_line(capsys.readouterr().err)
        assert "is a file of the run" in err and "never replaced" in err and name.replace(".png", ".json") in err
        assert _snapshot(run) == before  # log.json / result.json untouched, nothing written beside them


def test_plot_betas_replaces_an_existing_picture_only_with_overwrite(tmp_path, capsys):
    run = _toy_run(tmp_path / "run")
    assert dan_main(["plot-betas", "--run", str(run)]) == 0
    capsys.readouterr()
    written = _snapshot(run)
    assert {"betas.png", "betas.json"} <= set(written)
    # a rerun of the default refuses: the earlier picture and numbers are kept
    assert dan_main(["plot-betas", "--run", str(run)]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "betas.png exists; pass --overwrite" in err and _snapshot(run) == written
    assert dan_main(["plot-betas", "--run", str(run), "--overwrite"]) == 0
    assert f"wrote {run / 'betas.png'} and {run / 'betas.json'}" in capsys.readouterr().out
    assert sorted(_snapshot(run)) == sorted(written)  # no temporary file left beside them
    # a user's file in the place of the summary (mine.json beside --out mine.png) is kept too
    (tmp_path / "mine.json").write_text("my notes")
    assert dan_main(["plot-betas", "--run", str(run), "--out", str(tmp_path / "mine.png")]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "mine.json (the summary written beside --out" in err and "--overwrite" in err
    assert (tmp_path / "mine.json").read_text() == "my notes" and not (tmp_path / "mine.png").exists()
    assert dan_main(["plot-betas", "--run", str(run), "--out", str(tmp_path / "mine.txt")]) == 2
    assert "--out must end in .png" in _one_line(capsys.readouterr().err)


def _limit_file_size(limit):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    return apply


def test_a_failed_write_leaves_no_half_picture(tmp_path):
    """A real process whose writes stop at 8000 bytes (RLIMIT_FSIZE; the picture is larger): the
    write fails in one line and leaves no half picture, no temporary file, and (with --overwrite)
    the earlier picture whole."""
    run = _toy_run(tmp_path / "run")
    out = tmp_path / "pictures"
    out.mkdir()
    cmd = dan_cmd("plot-betas", "--run", run, "--out", out / "b.svg")  # matplotlib itself streams SVG

    def dan(*extra, limit=None):
        return subprocess.run(cmd + list(extra), cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                              timeout=300, preexec_fn=_limit_file_size(limit) if limit else None)

    r = dan(limit=8000)
    assert r.returncode != 0 and _one_line(r.stderr).startswith("dan plot-betas: error:"), r.stderr
    assert _snapshot(out) == {}  # no half b.svg, no b.svg.tmpPID
    assert dan().returncode == 0 and (out / "b.svg").stat().st_size > 10_000
    good = _snapshot(out)
    r = dan("--overwrite", limit=8000)
    assert r.returncode != 0 and _one_line(r.stderr).startswith("dan plot-betas: error:"), r.stderr
    assert _snapshot(out) == good  # the earlier picture and numbers, whole


# ------------------------------------------------------------------------------------------- plot

@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    """ok/: an ablation's dan and source_only runs of printed -> digits; bad/: the same dan run
    beside a source_only run of the other direction (digits -> printed)."""
    root = tmp_path_factory.mktemp("plot")

    def run(out, method, source="printed", target="digits"):
        train(TrainConfig(source=source, target=target, method=method, epochs=1, out=str(root / out)), progress=False)
        return root / out

    run("ok/dan/seed0", "dan")
    run("ok/source_only/seed0", "source_only")
    run("bad/source_only/seed0", "source_only", source="digits", target="printed")
    shutil.copytree(root / "ok" / "dan", root / "bad" / "dan")
    return root


def test_plot_never_replaces_the_runs_own_files_or_an_existing_picture(ablation, tmp_path, capsys):
    run = tmp_path / "dan" / "seed0"
    shutil.copytree(ablation / "ok", tmp_path, dirs_exist_ok=True)
    before = _snapshot(run)
    for name, extra in (("result.png", []), ("result.png", ["--overwrite"]), ("log.png", ["--overwrite"])):
        rc = dan_main(["plot", "--checkpoint", str(run / CHECKPOINT), "--out", str(run / name), *extra, "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and "is a file of the run" in _one_line(err), err
        assert _snapshot(run) == before
    # the default picture: a file already there is kept without --overwrite (checked before any work)
    (run / "tsne.png").write_text("my own picture")
    assert dan_main(["plot", "--checkpoint", str(run / CHECKPOINT), "--quiet"]) == 2
    assert "tsne.png exists; pass --overwrite" in _one_line(capsys.readouterr().err)
    assert (run / "tsne.png").read_text() == "my own picture"


def test_plot_refuses_a_before_run_of_other_data(ablation, capsys):
    """The ablation's source_only run beside the checkpoint is of digits -> printed: refused in one
    line naming source and target, before any work (not silently used as "before")."""
    ck = ablation / "bad" / "dan" / "seed0" / CHECKPOINT
    assert dan_main(["plot", "--checkpoint", str(ck), "--quiet"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "was trained with other settings: source 'digits' (checkpoint: 'printed'), target 'printed'" in err
    assert not (ck.parent / "tsne.png").exists() and not (ck.parent / "before_source_only").exists()


def test_plot_refuses_a_given_before_of_other_data(ablation):
    from dan.commands.plot import plot

    with pytest.raises(ValueError, match=r"--before .* was trained with other settings than --checkpoint .*: "
                                         r"source 'digits' \(checkpoint: 'printed'\)"):
        plot(ablation / "ok" / "dan" / "seed0" / CHECKPOINT, before=ablation / "bad" / "source_only" / "seed0" /
             CHECKPOINT, out=ablation / "given.png", progress=False, max_points=60)
    assert not (ablation / "given.png").exists()


def test_plot_finds_the_ablations_before_run_from_a_relative_path(ablation, tmp_path, monkeypatch):
    """cd ABLATE/dan/seed0 && dan plot --checkpoint checkpoint.pt: the path is resolved before its
    parents are walked, so ABLATE/source_only/seed0 is found (not ./source_only, not a new run)."""
    from dan.commands.plot import plot

    run = ablation / "ok" / "dan" / "seed0"
    monkeypatch.chdir(run)
    summary = plot(Path(CHECKPOINT), out=tmp_path / "relative.png", progress=False, max_points=60)
    assert Path(summary["before"]).resolve() == (ablation / "ok" / "source_only" / "seed0" / CHECKPOINT).resolve()
    assert not (run / "before_source_only").exists()


def test_plot_ignores_a_source_only_folder_in_the_working_directory(ablation, tmp_path, monkeypatch):
    """runs/x is no ablation: ./source_only/seed0 (of other data) in the working directory is not
    its "before"; the source-only run kept beside the checkpoint is."""
    from dan.commands.plot import plot

    shutil.copytree(ablation / "bad" / "source_only", tmp_path / "source_only")
    shutil.copytree(ablation / "ok" / "dan" / "seed0", tmp_path / "runs" / "x",
                    ignore=shutil.ignore_patterns("tsne.*", "before_source_only"))
    # what dan plot would train (1 epoch, the checkpoint's settings), made here so the test is quick
    shutil.copytree(ablation / "ok" / "source_only" / "seed0", tmp_path / "runs" / "x" / "before_source_only")
    monkeypatch.chdir(tmp_path)
    summary = plot(Path("runs/x/checkpoint.pt"), progress=False, max_points=60)
    assert Path(summary["before"]).resolve() == (tmp_path / "runs" / "x" / "before_source_only" / CHECKPOINT).resolve()
    assert json.loads((tmp_path / "runs" / "x" / "tsne.json").read_text())["before"] == summary["before"]
