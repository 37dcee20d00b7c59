"""What a run writes besides its checkpoint: log.json and log.csv, one row per epoch (rewritten
whole each epoch, so they always match the checkpoint's history)."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import List


def write_logs(out: Path, history: List[dict]) -> None:
    with open(out / "log.json", "w") as f:
        json.dump(history, f, indent=1)
    keys = sorted({k for r in history for k in r}, key=lambda k: (k != "epoch", k))
    with open(out / "log.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in history:
            w.writerow({k: (json.dumps(v) if isinstance(v, list) else v) for k, v in r.items()})
