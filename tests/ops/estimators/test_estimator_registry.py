"""One record per estimator (dan_ext/estimators/registry.py) is what every place reads: the op's
dispatch, the checks, the variance rules, the two-sample test. A new estimator is one record plus
its kernels: shown here with a record that reuses the linear route under another name."""
import dataclasses

import pytest
import torch

import dan_ext
from dan_ext.estimators import op, reference, registry
from dan_ext.estimators.registry import REGISTRY, ROUTES, get_estimator


def test_every_estimator_has_one_record_and_the_reference_knows_the_same_names():
    names = [e.name for e in REGISTRY]
    assert len(set(names)) == len(names) and tuple(names) == dan_ext.ESTIMATORS == reference.ESTIMATORS
    assert all(e.route in ROUTES for e in REGISTRY)
    assert registry.ALL_PAIRS == tuple(e.name for e in REGISTRY if e.route == "all_pairs")


@pytest.mark.parametrize("n", range(2, 40))
def test_the_variance_rules_are_the_documented_formulas(n):
    B = registry.default_block_size(n)
    assert dan_ext.variance_dof("linear", n) == (n // 2) // 2
    assert dan_ext.variance_dof("shifted", n) == (n // 2 if n >= 4 else 0)
    assert dan_ext.variance_dof("block", n) == (n // B) // 2
    for name in ("unbiased", "biased"):
        assert get_estimator(name).variance_dof is None and get_estimator(name).null == "permutation"
        with pytest.raises(ValueError, match="Hoeffding"):
            dan_ext.variance_dof(name, n)


def test_an_unknown_name_is_one_line_naming_the_estimators():
    for bad in ("quadratic", None, ["linear"], 3):
        with pytest.raises(ValueError, match=r"^estimator must be one of linear, shifted, block, unbiased, biased, got"):
            get_estimator(bad)
        with pytest.raises(ValueError, match=r"^estimator must be one of"):
            dan_ext.mkmmd(torch.randn(8, 3), torch.randn(8, 3), estimator=bad)


@pytest.fixture
def extra_estimator(monkeypatch):
    """A new estimator by its record alone: the paper's quad-tuples under another name, with a
    stricter variance rule (so that a test shows the rule is read from the record)."""
    rec = dataclasses.replace(get_estimator("linear"), name="linear_strict", source="a test",
                              variance_dof=lambda n, B: max(0, (n // 2) // 2 - 1))
    monkeypatch.setitem(registry.BY_NAME, rec.name, rec)
    return rec


def test_a_new_record_is_all_the_op_the_checks_and_the_test_need(extra_estimator):
    g = torch.Generator().manual_seed(0)
    xs, xt = torch.randn(16, 4, generator=g, dtype=torch.float64), torch.randn(16, 4, generator=g, dtype=torch.float64) + 1
    name = extra_estimator.name
    assert torch.equal(dan_ext.mkmmd(xs, xt, estimator=name), dan_ext.mkmmd_linear(xs, xt))
    st = dan_ext.mkmmd_stats(xs, xt, estimator=name)
    assert torch.equal(st.per_kernel, dan_ext.mkmmd_linear_stats(xs, xt).per_kernel)
    assert dan_ext.variance_dof(name, 16) == 3 and op.min_rows_for_variance(name) == 8
    assert op.check_estimator(name, None, 16, 16) == (name, None)
    with pytest.raises(ValueError, match="block_size applies only to estimator='block'"):
        op.check_estimator(name, 4, 16, 16)
    r = dan_ext.mmd_test(xs, xt, estimator=name, learn_betas=False, generator=torch.Generator().manual_seed(1))
    assert r.estimator == name and r.null == "normal" and r.dof == 3
