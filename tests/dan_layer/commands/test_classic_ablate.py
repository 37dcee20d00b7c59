"""dan classic-ablate: every method once, or over the seeds where its result depends on them, as a
markdown table, its numbers as JSON and a bar plot; an existing table is kept without --overwrite."""
import json

from dan.commands.cli import main as dan_main
from feature_helpers import tiny_features


def test_table_seeds_only_where_they_matter(tmp_path, capsys):
    features = tiny_features(tmp_path)
    out = tmp_path / "table"
    # 5 Nystrom landmarks of 36 rows: TCA's result depends on the seed; none and SA are closed forms
    args = ["classic-ablate", "--methods", "none,tca,sa", "--seeds", "2", "--n-landmarks", "5", "--n-components", "2",
            "--features", str(features), "--out", str(out), "--quiet"]
    assert dan_main(args) == 0
    summary = json.loads((out / "results.json").read_text())
    runs = {m: len(row["accuracy"]) for m, row in summary["methods"].items()}
    assert runs == {"none": 1, "tca": 2, "sa": 1}
    assert summary["methods"]["tca"]["params"]["n_landmarks"] == 5
    table = (out / "results.md").read_text()
    assert "| none | no adaptation |" in table and "| sa | subspace alignment |" in table
    assert "1 (no randomness)" in table and "| 2 |" in table
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    capsys.readouterr()
    before = (out / "results.md").read_text()
    assert dan_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"--out {out} already holds a table" in err and "--overwrite" in err, err
    assert (out / "results.md").read_text() == before
    assert dan_main(args + ["--overwrite"]) == 0


def test_unknown_method_is_named(tmp_path, capsys):
    rc = dan_main(["classic-ablate", "--methods", "tca,deep", "--features", str(tmp_path), "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "--methods must be one of none, tca" in err and "'deep'" in err, err


def test_unlabelled_target_names_the_features_folder(tmp_path, capsys):
    """The features came by --features: the error names that folder, not a --target never given."""
    import numpy as np

    from dan.data import feature_cache as cache

    features = tiny_features(tmp_path)
    record = json.loads((features / "target.json").read_text())
    x, y = np.load(features / "target.npy"), np.load(features / "target_labels.npy")
    info = {k: v for k, v in record.items() if k not in ("written_by", "role", "key", "rows", "width",
                                                           "features_sha256")}
    cache.write(features, "target", x, np.full_like(y, -1), record["key"], info)
    rc = dan_main(["classic-ablate", "--methods", "none", "--features", str(features), "--out", str(tmp_path / "t"),
                   "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0, err
    assert f"--features {features}: the target's rows have no labels" in err and "--target" not in err, err
    assert not (tmp_path / "t").exists()
