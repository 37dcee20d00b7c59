"""What a run writes besides its checkpoint: log.json and log.csv, one row per epoch (rewritten
whole and atomically each epoch, after the checkpoint, so they never run ahead of it)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import List

from dan.runs.atomic import atomic_write_text


def write_logs(out: Path, history: List[dict]) -> None:
    atomic_write_text(out / "log.json", json.dumps(history, indent=1))
    keys = sorted({k for r in history for k in r}, key=lambda k: (k != "epoch", k))
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=keys)
    w.writeheader()
    for r in history:
        w.writerow({k: (json.dumps(v) if isinstance(v, list) else v) for k, v in r.items()})
    atomic_write_text(out / "log.csv", text.getvalue())
