"""The estimator benchmarks (benchmarks/test_bench_estimators.py, benchmarks/estimator_table.py,
benchmarks/two_sample_power.py) import and
run one tiny case of each row kind, skip what they say they skip, and the materialised peers of
benchmarks/peers.py compute exactly the dan_ext estimators their docstrings name (float64, loss and
gradients):

  tllib_mkmmd(linear=False) = 5 * dan_ext.mkmmd(estimator="unbiased", bandwidths=g) + 2/(n-1)
  tllib_mkmmd(linear=True)  = 5 * dan_ext.mkmmd(estimator="shifted",  bandwidths=g) + 2/(n-1)
      g_u = 2 alpha_u mean(D) over the whole (2n)^2 matrix = default_bandwidths(gbar (N-1)/N, 5, 2.0),
      alpha = 2^-3..2^1, gbar = sum(D)/(N^2-N) (dan_ext's all-pairs rule), N = 2n
  deepda_mmd = 5 * dan_ext.mkmmd(estimator="biased") (dan_ext's default bandwidths, uniform betas)
"""
import re
import sys
from pathlib import Path

import pytest
import torch

import dan_ext

sys.path.append(str(Path(__file__).resolve().parents[3]))  # appended: dan_ext still from site-packages
from benchmarks import estimator_table, peers, two_sample_power  # noqa: E402
from benchmarks import test_bench_estimators as bench  # noqa: E402


def _pair(ns, nt, d, seed=0):
    gen = torch.Generator().manual_seed(seed)
    s = torch.randn(ns, d, generator=gen, dtype=torch.float64).requires_grad_(True)
    t = (torch.randn(nt, d, generator=gen, dtype=torch.float64) * 1.3 + 0.4).requires_grad_(True)
    return s, t


def _agree(a_fn, b_fn, s, t):
    """a_fn() and b_fn() agree in value and in their gradients w.r.t. s and t (float64)."""
    a, b = a_fn(), b_fn()
    ga, gb = torch.autograd.grad(a, (s, t)), torch.autograd.grad(b, (s, t))
    torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-9, atol=1e-12)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=1e-7, atol=1e-12)


def _tllib_bandwidths(s, t):
    """The gamma_u = 2 sigma_u^2 of tllib's kernels, two ways: from its rule directly and from dan_ext's
    all-pairs gbar; they must coincide."""
    z = torch.cat([s, t]).detach()
    N = z.shape[0]
    D = ((z[:, None] - z[None]) ** 2).sum(-1)
    direct = torch.tensor([2 * a * float(D.mean()) for a in peers.TLLIB_ALPHAS], dtype=torch.float64)
    gbar = dan_ext.estimator_mean_sqdist(s, t, estimator="unbiased")
    via_gbar = dan_ext.default_bandwidths(gbar * (N - 1) / N, 5, 2.0)
    torch.testing.assert_close(via_gbar, direct, rtol=1e-12, atol=0)
    return via_gbar


@pytest.mark.parametrize("n, d", [(2, 1), (7, 3), (16, 33)])
def test_tllib_all_pairs_is_five_unbiased_plus_its_constant(n, d):
    s, t = _pair(n, n, d)
    g = _tllib_bandwidths(s, t)
    _agree(lambda: peers.tllib_mkmmd(s, t, linear=False),
           lambda: 5 * dan_ext.mkmmd(s, t, g, estimator="unbiased") + 2.0 / (n - 1), s, t)


@pytest.mark.parametrize("n, d", [(3, 1), (7, 3), (16, 33)])
def test_tllib_linear_is_five_shifted_plus_its_constant(n, d):
    s, t = _pair(n, n, d, seed=1)
    g = _tllib_bandwidths(s, t)
    _agree(lambda: peers.tllib_mkmmd(s, t, linear=True),
           lambda: 5 * dan_ext.mkmmd(s, t, g, estimator="shifted") + 2.0 / (n - 1), s, t)


@pytest.mark.parametrize("ns, nt, d", [(2, 2, 1), (7, 7, 3), (9, 5, 4), (16, 16, 33)])
def test_deepda_is_five_biased_at_the_default_bandwidths(ns, nt, d):
    s, t = _pair(ns, nt, d, seed=2)
    _agree(lambda: peers.deepda_mmd(s, t), lambda: 5 * dan_ext.mkmmd(s, t, estimator="biased"), s, t)
    # kernel_num and kernel_mul carry over: the bandwidths gbar * mul**(u - m//2), summed kernels
    _agree(lambda: peers.deepda_mmd(s, t, kernel_num=3, kernel_mul=1.5),
           lambda: 3 * dan_ext.mkmmd(s, t, estimator="biased", kernel_num=3, kernel_mul=1.5), s, t)
    # the cdist form of the same statistic (the benchmarks' lean materialised peer)
    _agree(lambda: peers.quadratic_mkmmd(s, t), lambda: 5 * dan_ext.mkmmd(s, t, estimator="biased"), s, t)


def test_tllib_refuses_unequal_batches():
    s, t = _pair(5, 4, 2)
    with pytest.raises(ValueError, match="equal batch sizes"):
        peers.tllib_mkmmd(s, t)


class _Bench:
    """Stands in for pytest-benchmark's fixture: runs the function once."""
    group = None

    def __call__(self, fn):
        fn()

    def pedantic(self, fn, rounds, iterations):
        fn()


def test_benchmark_rows_import_and_one_tiny_case_each_runs():
    kinds = {(est, impl) for _, _, _, est, impl in bench.CASES}
    assert kinds == {("shifted", "dan_ext"), ("shifted", "reference"), ("shifted", "tllib"),
                     ("block", "dan_ext"), ("block", "reference"),
                     ("unbiased", "dan_ext"), ("unbiased", "reference"), ("unbiased", "tllib"),
                     ("biased", "dan_ext"), ("biased", "reference"), ("biased", "deepda"),
                     ("biased", "cdist")}
    assert {(n, d) for _, n, d, _, _ in bench.CASES} == {(n, d) for n in (32, 256, 2048, 16384) for d in (256, 2048)}
    for est, impl in sorted(kinds):
        b = _Bench()
        bench.test_estimator(b, "cpu", 16, 8, est, impl)
        assert b.group == f"{est} cpu n=16 d=8 m=5 float32 fwd+bwd"
        xs, xt = estimator_table.make_inputs(16, 8, "cpu")
        gs, gt = estimator_table.fwd_bwd(impl, est, xs, xt)()
        assert gs.shape == xs.shape and gt.shape == xt.shape
        assert torch.isfinite(gs).all() and torch.isfinite(gt).all()


def test_skip_rules():
    reason = estimator_table.skip_reason
    # materialised peers and the reference past 2 GB
    assert reason("tllib", "unbiased", 256, 256, "cpu") is None                  # 5 x 0.25 GB
    assert "10.0 GB" in reason("tllib", "unbiased", 256, 2048, "cpu")           # 5 x [512, 512, 2048]
    assert reason("deepda", "biased", 256, 2048, "cpu") is None                 # exactly 2 GB
    assert "16.0 GB" in reason("deepda", "biased", 2048, 256, "cpu")
    assert reason("reference", "unbiased", 256, 2048, "cpu") is None            # 3 x [256, 256, 2048]: 1.5 GB
    assert "materialised" in reason("reference", "biased", 2048, 256, "cuda")
    assert reason("reference", "shifted", 16384, 2048, "cpu") is None
    # dan_ext: never for memory; on a 2-thread CPU the 16384 x 2048 all-pairs cases for time
    for est in ("unbiased", "biased"):
        assert "estimated" in reason("dan_ext", est, 16384, 2048, "cpu", threads=2)
        assert reason("dan_ext", est, 16384, 256, "cpu", threads=2) is None     # the bounded-memory showcase
        assert reason("dan_ext", est, 16384, 2048, "cuda") is None
    for est in ("shifted", "block"):
        assert reason("dan_ext", est, 16384, 2048, "cpu", threads=2) is None


def _table_rows(text):
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[1].isdigit():
            rows[(cells[0], int(cells[1]), int(cells[2]), cells[3])] = cells[4:]
    return rows


def test_estimator_table_quick(tmp_path, capsys):
    out = tmp_path / "table.md"
    # one thread: on a busy 2-core machine two OpenMP threads stall each other for tens of ms a call
    assert estimator_table.main(["--quick", "--n", "16", "--reps", "1", "--threads", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert re.search(r"CPU .*\d+ cores, torch .* \(1 threads\)", text.splitlines()[0])
    assert "peak RSS growth (VmHWM)" in text
    rows = _table_rows(text)
    expected = {(est, 16, 256, impl) for est in estimator_table.ESTIMATORS
                for impl in estimator_table.implementations_for(est)}
    assert set(rows) == expected
    for (est, n, d, impl), (ms, mb, speedup, note) in rows.items():
        assert float(ms) > 0 and float(mb) >= 0 and note == "", (est, impl, note)
        if impl == "dan_ext":
            assert speedup == "(ours)"
        else:  # peer time / dan_ext time (the times as printed are rounded to 0.001 ms)
            ratio = float(ms) / float(rows[(est, n, d, "dan_ext")][0])
            assert speedup.endswith("x") and float(speedup[:-1]) == pytest.approx(ratio, rel=0.01, abs=0.06)


def test_estimator_table_dry_run_plans_the_full_grid():
    rows = estimator_table.build_rows(estimator_table.grid(), "cpu", 3, 120.0, 2.0, log=lambda *a, **k: None,
                                      dry_run=True)
    assert len(rows) == 4 * 2 * 12  # implementation rows per (n, d): 3 + 2 + 3 + 4
    by = {(r["estimator"], r["n"], r["d"], r["impl"]): r["note"] for r in rows}
    assert by[("unbiased", 16384, 256, "dan_ext")].startswith("would run")
    assert by[("biased", 16384, 2048, "deepda")].startswith("skipped: materialised")
    assert by[("block", 16384, 2048, "dan_ext")].startswith("would run")


def test_two_sample_power_runs_the_chosen_cells_only(tmp_path, capsys):
    out = tmp_path / "power.md"
    assert two_sample_power.main(["--reps", "3", "--cases", "null,shift 0.35", "--estimators", "block,linear",
                                  "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert "| case | n per sample | block | linear |" in lines
    rows = [ln for ln in lines if ln.startswith("| null") or ln.startswith("| shift")]
    assert [r.split(" |")[0] for r in rows] == ["| null, 3-D N(0, I)", "| shift 0.35 in 3-D"]
    for r in rows:
        rates = [float(x) for x in r.strip("|").split("|")[2:]]
        assert len(rates) == 2 and all(0.0 <= x <= 1.0 for x in rates)


@pytest.mark.parametrize("argv, message", [
    (["--estimators", "linear,quadratic"], "--estimators: quadratic; allowed: linear, shifted"),
    (["--cases", "gaussian"], "--cases 'gaussian' matches no case"),
])
def test_two_sample_power_refuses_unknown_cells(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        two_sample_power.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err
