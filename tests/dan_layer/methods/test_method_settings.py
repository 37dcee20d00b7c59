"""Each method declares the settings it reads (methods/settings.py); TrainConfig and the CLI take
them from the declarations, one rule refuses a setting the chosen method does not declare, and a
resume compares only the settings the run's method reads."""
import dataclasses

import pytest

from cli_helpers import run_dan
from dan.config import COMMON_IDENTITY, CommonConfig, TrainConfig, checked, run_identity, stored_config
from dan.methods import METHODS, get_method
from dan.methods.settings import declared, reset_undeclared


def test_train_config_is_the_common_settings_and_every_declared_one():
    common = [f.name for f in dataclasses.fields(CommonConfig)]
    own = declared(METHODS.values())
    assert [f.name for f in dataclasses.fields(TrainConfig)] == common + list(own)
    assert {"estimator", "beta_every", "fixed_betas", "kernel_mul"} <= set(own) and not set(own) & set(common)
    for s in own.values():
        assert getattr(TrainConfig(), s.name) == s.default


@pytest.mark.parametrize("method, setting, needle", [
    ("coral", {"beta_every": 5}, "--beta-every: method coral has no learned kernel weights (--beta-every belongs to"),
    ("dann", {"kernel_mul": 3.0}, "--kernel-mul: method dann has no kernel bandwidths (--kernel-mul belongs to"),
    ("source_only", {"beta_eps": 0.1}, "--beta-eps: method source_only has no learned kernel weights"),
    ("jan", {"fixed_betas": "1,1,1,1,1"}, "--fixed-betas: method jan has no kernel weights"),
])
def test_a_setting_the_method_does_not_declare_is_refused(tmp_path, method, setting, needle):
    with pytest.raises(ValueError) as err:
        checked(TrainConfig(method=method, out=str(tmp_path / "r"), **setting), load_source=False, load_target=False)
    assert str(err.value).startswith(needle) and "\n" not in str(err.value)


def test_a_declared_setting_is_checked_by_its_declaration(tmp_path):
    with pytest.raises(ValueError, match=r"^--beta-every must be an integer >= 1, got 0$"):
        checked(TrainConfig(method="dan", beta_every=0, out=str(tmp_path)), load_source=False, load_target=False)
    with pytest.raises(ValueError, match=r"^--kernel-mul must be a finite number > 0, got -1.0$"):
        checked(TrainConfig(method="jan", kernel_mul=-1.0, out=str(tmp_path)), load_source=False, load_target=False)
    assert checked(TrainConfig(method="jan", kernel_mul=3.0, out=str(tmp_path)), load_source=False,
                   load_target=False).kernel_mul == 3.0


def test_the_cli_refuses_it_in_one_line(tmp_path):
    r = run_dan(tmp_path, "train", "--method", "coral", "--beta-every", "5", "--epochs", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "--beta-every: method coral has no learned kernel weights" in r.stderr


def test_every_declared_setting_is_a_flag_with_its_methods(tmp_path):
    r = run_dan(tmp_path, "train", "--help")
    text = " ".join(r.stdout.split())
    for s in declared(METHODS.values()).values():
        assert s.flag in text
    assert "for ddc, dan7, dan8, dan_sk, dan, dan_uniform, jan" in text  # --kernel-mul's users


def test_a_run_is_identified_by_the_common_settings_and_its_methods_own():
    assert run_identity(TrainConfig(method="coral")) == COMMON_IDENTITY
    assert run_identity(TrainConfig(method="jan")) == COMMON_IDENTITY + ("kernel_mul",)
    assert set(run_identity(TrainConfig(method="dan"))) >= set(COMMON_IDENTITY) | {"estimator", "beta_every"}


def test_a_stored_configuration_from_before_the_declarations_is_upgraded():
    """Before methods declared their settings every run stored all of them, and a CORAL run could
    carry --beta-every 5 that it never read: it loads with the setting back at its default."""
    old = dataclasses.asdict(TrainConfig(method="coral", batch_size=32, epochs=3, lr=0.01))
    old["beta_every"] = 5
    cfg = stored_config(old)
    assert cfg.method == "coral" and cfg.beta_every == 10
    dan = dict(old, method="dan")
    assert stored_config(dan).beta_every == 5  # a method that reads it keeps it


def test_ablate_gives_each_method_only_its_own_settings():
    base = dataclasses.asdict(TrainConfig(kernel_mul=3.0, beta_every=4))
    assert reset_undeclared(base, get_method("coral"), METHODS.values())["kernel_mul"] == 2.0
    jan = reset_undeclared(base, get_method("jan"), METHODS.values())
    assert jan["kernel_mul"] == 3.0 and jan["beta_every"] == 10
    assert reset_undeclared(base, get_method("dan"), METHODS.values()) == base
