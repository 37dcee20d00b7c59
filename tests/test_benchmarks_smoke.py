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
    assert row["speedup_fwdbwd"] == row["ref_fwdbwd_ms"] / row["ours_fwdbwd_ms"]
    assert row["speedup_fwd"] == row["ref_fwd_ms"] / row["ours_fwd_ms"]
    assert row["bytes_fwdbwd"] == 4 * 64 * 31 * 4  # inputs read, gradients written, float32
    assert len(list(cases.grid("cpu"))) > 20


def test_fresh_check_passes_on_cpu():
    assert fresh_check.main(["--device", "cpu", "--cases", "6", "--seed", "1"]) == 0


def test_kernel_profile_counts_bytes_and_needs_cuda():
    import pytest

    from benchmarks import kernel_profile

    n, d = 1024, 256
    assert kernel_profile.bytes_moved("void pair_sqdist_kernel<float>(...)", n, d, 4) == 2 * n * d * 4
    assert kernel_profile.bytes_moved("void pair_grad_kernel<__nv_bfloat16>(...)", n, d, 2) == 4 * n * d * 2
    assert kernel_profile.bytes_moved("tuple_terms_kernel", n, d, 4) == 0
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="needs a CUDA device"):
            kernel_profile.main(["--sizes", "64x8x5xfloat32"])


def test_step_share_times_both_methods(tmp_path):
    import json

    from benchmarks import step_share

    out = tmp_path / "share.json"
    assert step_share.main(["--image-size", "32", "--batch-size", "4", "--steps", "2", "--rounds", "1",
                            "--warmup", "1", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert set(r["step_ms"]) == {"source_only", "dan"} and r["steps_timed"] == 2 and r["amp"] is False
    assert 0 < r["mkmmd_op_ms"] < r["step_ms"]["dan"]
    # the share is (dan - source_only) / dan of the medians (step_ms is rounded to 0.01 ms)
    assert abs(r["mkmmd_share_of_dan_step"] - (1 - r["step_ms"]["source_only"] / r["step_ms"]["dan"])) < 1e-3
