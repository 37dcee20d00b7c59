"""--lr and --weight-decay beyond what the float32 optimiser step can take are one-line errors
naming the flag (they were torch's 'value cannot be converted to type float without overflow')."""
import pytest

from cli_helpers import FAST
from dan.commands.cli import main as dan_main


@pytest.mark.parametrize("flag, value", [("--lr", "1e38"), ("--weight-decay", "1e39")])
def test_optimiser_settings_beyond_float32_name_the_flag(tmp_path, capsys, flag, value):
    rc = dan_main(["train", *FAST, "--epochs", "1", "--out", str(tmp_path / "run"), flag, value])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and f"{flag} must be a finite number" in err, err
    assert not (tmp_path / "run").exists()
