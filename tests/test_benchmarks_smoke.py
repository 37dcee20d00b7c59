"""The benchmark modules import and one tiny case of each implementation runs (no timing)."""
import sys
from pathlib import Path

import torch

# The benchmarks live beside the tests, not in the installed package. Appended, not prepended,
# so dan_ext still comes from site-packages (with its compiled module).
sys.path.append(str(Path(__file__).resolve().parents[1]))
from benchmarks import cases, fresh_check, report  # noqa: E402


def test_benchmark_cases_run_and_agree():
    xs, xt = cases.make_inputs(64, 31, torch.float32, "cpu")
    impls = cases.implementations(xs, xt, 5)
    assert {"dan_ext", "reference"} <= set(impls)
    for fn in impls.values():
        cases.step(fn, True, (xs, xt))()
    torch.testing.assert_close(impls["dan_ext"](), impls["reference"](), rtol=1e-5, atol=1e-7)
    gs, gt = cases.saved_gradient_variant(xs, xt, 5)()
    assert gs.shape == xs.shape and torch.isfinite(gs).all()


def test_report_times_a_tiny_case():
    row = report.time_case("cpu", 64, 31, 5, torch.float32, reps=3, peers=True)
    assert row["ours_fwdbwd_ms"] > 0 and row["ref_fwdbwd_ms"] > 0 and row["speedup_fwdbwd"] > 0
    assert len(list(cases.grid("cpu"))) > 20


def test_fresh_check_passes_on_cpu():
    assert fresh_check.main(["--device", "cpu", "--cases", "6", "--seed", "1"]) == 0


def test_kernel_profile_module_imports():
    from benchmarks import kernel_profile

    assert callable(kernel_profile.main)
