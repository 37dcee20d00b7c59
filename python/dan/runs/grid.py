"""The grid of training runs behind a table (dan ablate: methods x seeds; dan benchmark: tasks x
seeds), trained one after another into run folders inside the table's folder OUT.

The run-folder rules apply to OUT as a whole (one table at a time, locked) and to each run:
``mode="new"`` refuses a folder that holds such a table (its results files, or a run in one of
its run folders), ``"resume"`` reuses finished runs whose settings match (config.check_same_run)
and continues interrupted ones from their checkpoints, ``"overwrite"`` retrains everything.
Every run's settings are checked before the first one trains."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Iterable, List, Sequence, Tuple

from dan.config import TrainConfig, check
from dan.runs.folder import TABLE_FILES, RunFolder, read_finished
from dan.trainer import train

GRID_MODES = ("new", "resume", "overwrite")


# --seeds at most: every run of the grid is configured and checked before the first trains
# (--seeds 100000 took 3 GB before training anything; 1000 seeds of the 7 default methods take
# 30 MB and 3 s), and 1000 seeds of one method on the default demo, about a minute a run, are
# already most of a day on 2 cores
MAX_SEEDS = 1000


def check_seeds(seeds) -> int:
    """--seeds as an integer from 1 to MAX_SEEDS, or a one-line ValueError."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise ValueError(f"--seeds must be an integer from 1 to {MAX_SEEDS} (runs are seeds 0 to N - 1 of every "
                         f"row, each configured before the first trains), got {seeds!r}")
    return seeds


def run_grid(runs: Sequence[Tuple[str, TrainConfig]], out: Path, mode: str, what: str, groups: Iterable[str],
             write: Callable[[Dict[str, List[float]]], None], prepare: Callable[[], dict] = lambda: {},
             progress: bool = True) -> Dict[str, List[float]]:
    """Train (or, under ``mode="resume"``, reuse) every run and return {row: [target accuracy per
    run, in order]}.

    ``runs``: (row of the table, the run's configuration, its out a folder inside ``out``).
    ``what``: the table in the refusal, e.g. "an ablation". ``groups``: the folders in ``out`` that
    runs of such a table use (a non-empty one means ``out`` holds one). ``prepare()`` runs once the
    folder is ours and before anything in it is replaced: it checks the data and returns extra
    keyword arguments for ``train`` (domains loaded once). ``write(acc)`` writes the table, while
    the folder is still locked."""
    if mode not in GRID_MODES:
        raise ValueError(f"mode must be one of {GRID_MODES}, got {mode!r}")
    # every setting of every run (a method's kernels, a task's data folders), once: train() and its
    # Trainer take the checked configurations as they are
    runs = [(row, check(cfg)) for row, cfg in runs]
    with RunFolder(out, "overwrite" if mode == "overwrite" else "continue", what="--out", kind="table") as folder:
        if mode == "new" and (any((folder.path / f).exists() for f in TABLE_FILES) or any(
                (folder.path / g).is_dir() and any((folder.path / g).iterdir()) for g in groups)):
            raise ValueError(f"--out {out} already holds {what}: pass --resume to continue it (finished runs "
                             "are reused), --overwrite to retrain it, or choose another --out")
        data = prepare()
        folder.accept()
        acc: Dict[str, List[float]] = {}
        for row, run in runs:
            cfg = run.config
            done = Path(cfg.out) / "result.json"
            if mode == "resume" and done.exists():  # a finished run with the same settings is reused
                result = read_finished(done, cfg)
            else:
                result = train(run, progress=progress, mode="overwrite" if mode == "overwrite" else "continue", **data)
            acc.setdefault(row, []).append(result["target_accuracy"])
            print(f"{row} seed {cfg.seed}: target accuracy {result['target_accuracy']:.4f}", flush=True)
        write(acc)
    return acc
