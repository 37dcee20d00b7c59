"""The beta of every update in the log, and ``dan plot-betas`` that draws and summarises it."""
import dataclasses
import json

import numpy as np
import pytest

from dan.commands.beta_plot import beta_traces, summarise
from dan.commands.cli import main as dan_main
from dan.config import TrainConfig
from dan.trainer import train
from dan.methods import get_method
from dan_helpers import toy_domains


def _run(tmp_path, method, epochs=3, beta_every=2):
    src, tgt = toy_domains()
    # beta_every only for the methods that read it (source_only refuses it)
    own = {"beta_every": beta_every} if any(s.name == "beta_every" for s in get_method(method).settings) else {}
    cfg = TrainConfig(source="toy", target="toy", method=method, epochs=epochs, batch_size=32, **own,
                      out=str(tmp_path / method))
    train(cfg, progress=False, source=src, target=tgt)
    return tmp_path / method


def test_log_holds_every_beta_update(tmp_path):
    run = _run(tmp_path, "dan")
    log = json.loads((run / "log.json").read_text())
    for row in log:
        for layer in ("fc6", "fc7", "fc8"):
            trace = row[f"beta_trace_{layer}"]
            # one entry per beta_every steps of this epoch (3 steps per epoch: 96 images, batch 32)
            steps = [t[0] for t in trace]
            assert steps == [s for s in range(row["step"] - 2, row["step"] + 1) if s % 2 == 0], (row["epoch"], steps)
            assert all(len(t) == 6 and abs(sum(t[1:]) - 1) < 1e-3 for t in trace)
            if trace:  # the epoch's last update is the beta the row reports
                assert trace[-1][1:] == row[f"beta_{layer}"]
    traces, config = beta_traces(run)
    steps, betas = traces["fc7"]
    assert steps.tolist() == [2, 4, 6, 8] and betas.shape == (4, 5) and config["method"] == "dan"


def test_fixed_betas_replace_the_qp(tmp_path):
    """--fixed-betas: the weights given, normalised, for every update; nothing solved; stored in the
    run's identity so a resume with other weights is refused."""
    src, tgt = toy_domains()
    cfg = TrainConfig(source="toy", target="toy", method="dan", epochs=2, batch_size=32, beta_every=1,
                      fixed_betas="2,0,0,0,2", out=str(tmp_path / "fixed"))
    r = train(cfg, progress=False, source=src, target=tgt)
    assert r["betas"] == {layer: [0.5, 0, 0, 0, 0.5] for layer in ("fc6", "fc7", "fc8")}
    assert set(r["beta_status"].values()) == {"fixed (--fixed-betas)"}
    log = json.loads((tmp_path / "fixed" / "log.json").read_text())
    assert all(row["beta_fc7"] == [0.5, 0, 0, 0, 0.5] and "beta_trace_fc7" not in row for row in log)
    with pytest.raises(ValueError, match="fixed_betas"):
        train(dataclasses.replace(cfg, epochs=3, fixed_betas="1,0,0,0,0"), resume=True, progress=False,
              source=src, target=tgt)


def test_fixed_beta_methods_log_no_trace(tmp_path):
    log = json.loads((_run(tmp_path, "dan_uniform", epochs=1) / "log.json").read_text())
    assert not any(k.startswith("beta_trace_") for k in log[0]) and log[0]["beta_fc6"] == [0.2] * 5


def test_summarise_counts_vertices_and_changes():
    betas = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]], dtype=float)
    s = summarise(betas)
    assert s["updates"] == 5 and s["at_vertex"] == pytest.approx(3 / 5)
    # favourites: 0, 1, 1, 0 (argmax of a tie is the first), 2 -> changes at 3 of 4 transitions
    assert s["favourite_changes"] == pytest.approx(3 / 4)
    assert s["favourite_share"] == [0.4, 0.4, 0.2]
    assert s["mean_beta"] == pytest.approx([0.34, 0.56, 0.1])
    assert s["entropy_nats"] == pytest.approx((np.log(2) - (0.2 * np.log(0.2) + 0.3 * np.log(0.3) + 0.5 * np.log(0.5))) / 5)


def test_cli_plot_betas_writes_picture_and_numbers(tmp_path, capsys):
    run = _run(tmp_path, "dan")
    assert dan_main(["plot-betas", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert (run / "betas.png").stat().st_size > 10_000 and "fc6: 4 updates" in out
    summary = json.loads((run / "betas.json").read_text())
    assert set(summary["layers"]) == {"fc6", "fc7", "fc8"} and summary["kernels"][0] == "0.25 gbar"
    assert summary["layers"]["fc8"]["updates"] == 4
    # the per-epoch fallback for logs written before beta_trace existed gives one point per epoch
    log = json.loads((run / "log.json").read_text())
    for row in log:
        for k in [k for k in row if k.startswith("beta_trace_")]:
            del row[k]
    (run / "log.json").write_text(json.dumps(log))
    steps, betas = beta_traces(run)[0]["fc8"]
    assert steps.tolist() == [3, 6, 9] and betas[-1].tolist() == log[-1]["beta_fc8"]


@pytest.mark.parametrize("method, message", [("source_only", "has no kernel weights (beta) to plot"), ("dan_sk", "one kernel")])
def test_cli_plot_betas_refuses_runs_without_learned_betas(tmp_path, capsys, method, message):
    run = _run(tmp_path, method, epochs=1)
    assert dan_main(["plot-betas", "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (run / "betas.png").exists()
    assert dan_main(["plot-betas", "--run", str(tmp_path / "nothing")]) == 2
    assert "no log.json" in capsys.readouterr().err
