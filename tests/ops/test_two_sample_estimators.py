"""mmd_test with every estimator: calibrated under the null (normal null for linear, shifted and
block; permutation null for unbiased and biased), power growing from the linear estimator to the
all-pairs ones at equal sample size, calibrated at small samples too (the Student t reference), and
the result saying which null it used."""
import pytest
import torch

import dan_ext
from dan_ext.estimators import reference as reference_estimators
from test_two_sample import _rejection_rate as _rate


def _null(gen, n=100):
    return (torch.randn(n, 3, generator=gen, dtype=torch.float64),
            torch.randn(n, 3, generator=gen, dtype=torch.float64))


def _shift(gen, n=100, delta=0.35):
    return (torch.randn(n, 3, generator=gen, dtype=torch.float64),
            torch.randn(n, 3, generator=gen, dtype=torch.float64) + delta)


@pytest.mark.parametrize("estimator", ["shifted", "block", "unbiased", "biased"])
def test_calibrated_under_the_null(estimator):
    kw = dict(estimator=estimator, learn_betas=False)
    if estimator in ("unbiased", "biased"):
        kw["permutations"] = 60
    rate = _rate(_null, 200, seed=21, **kw)
    # at alpha = 0.05 over 200 tests: 10 expected; 2..22 holds with probability > 0.999
    assert 0.01 <= rate <= 0.11, rate


@pytest.mark.parametrize("estimator", ["linear", "block"])
@pytest.mark.parametrize("n, learn_betas", [(8, False), (16, True)])
def test_calibrated_at_small_samples(estimator, n, learn_betas):
    """J = 2 differences behind the variance: referred to N(0, 1) a true null was rejected 12% of the
    time at alpha = 0.05; Student's t with J degrees of freedom brings it back to 5%."""
    rate = _rate(lambda gen: _null(gen, n), 1000, seed=7, estimator=estimator, learn_betas=learn_betas)
    # 50 expected of 1000; 30..75 holds with probability > 0.999 (the normal reference gave ~120)
    assert 0.03 <= rate <= 0.075, rate


def test_normal_null_p_value_is_student_t_with_the_variance_dof():
    from scipy import stats

    gen = torch.Generator().manual_seed(3)
    x, y = _shift(gen, n=40)
    for est, block_size, dof in [("linear", None, 10), ("shifted", None, 20), ("block", 4, 5), ("block", None, 3)]:
        r = dan_ext.mmd_test(x, y, estimator=est, block_size=block_size, learn_betas=False, generator=gen)
        assert r.dof == dof == dan_ext.two_sample.variance_dof(est, 40, block_size)
        assert r.p_value == pytest.approx(stats.t.sf(r.z, dof), rel=1e-12, abs=1e-300)
    r = dan_ext.mmd_test(x, y, estimator="unbiased", permutations=9, generator=gen)
    assert r.dof is None


def test_power_grows_with_the_pairs_compared():
    """At equal sample size, comparing more pairs gives more power (the B-test's point)."""
    rates = {}
    for est in ("linear", "block", "unbiased"):
        kw = dict(estimator=est, learn_betas=False)
        if est == "unbiased":
            kw["permutations"] = 60
        rates[est] = _rate(_shift, 60, seed=4, **kw)
    # measured (n = 100, shift 0.35 in 3-D, t reference): linear 0.12, block (B = 10, J = 5) 0.29 over
    # 300 tests; on these 60: linear 0.15, block 0.33, unbiased 0.83
    assert rates["linear"] + 0.1 <= rates["block"] and rates["block"] + 0.3 <= rates["unbiased"], rates


def test_result_names_estimator_and_null():
    gen = torch.Generator().manual_seed(0)
    x, y = _shift(gen, n=40)
    r = dan_ext.mmd_test(x, y, estimator="biased", permutations=30, generator=gen)
    assert (r.estimator, r.null) == ("biased", "permutation")
    assert r.p_value >= 1 / 31 and 0 <= r.p_value <= 1
    r = dan_ext.mmd_test(x, y, estimator="block", block_size=4, generator=gen)
    assert (r.estimator, r.null) == ("block", "normal")


def test_bad_estimator_arguments():
    x, y = _null(torch.Generator().manual_seed(0), n=20)
    with pytest.raises(ValueError, match="estimator must be one of"):
        dan_ext.mmd_test(x, y, estimator="quadratic")
    with pytest.raises(ValueError, match="permutations must be an integer >= 1"):
        dan_ext.mmd_test(x, y, estimator="unbiased", permutations=0)


def test_too_few_blocks_for_a_variance_is_refused():
    """One block gives no variance estimate (Q is NaN): a test on it rejected a true null about half
    of the time, so it is refused; so is a beta-learning part with one block."""
    import numpy as np

    x, y = _null(torch.Generator().manual_seed(1), n=20)
    with pytest.raises(ValueError, match="too few independent terms in x and y .* at least 2 blocks of block_size=11"):
        dan_ext.mmd_test(x, y, estimator="block", block_size=11, learn_betas=False)
    with pytest.raises(ValueError, match="too few independent terms in the first \\(beta-learning\\) part"):
        dan_ext.mmd_test(x, y, estimator="block", block_size=8)
    r = dan_ext.mmd_test(x, y, estimator="unbiased", permutations=np.int64(9), generator=torch.Generator().manual_seed(0))
    assert r.null == "permutation" and r.p_value >= 0.1


@pytest.mark.parametrize("call, error, message", [
    (lambda x, y: dan_ext.mmd_test(x[:, 0], y), ValueError, "x must be 2-D"),
    (lambda x, y: dan_ext.mmd_test(x, y.float()), TypeError, "x and y must have the same dtype"),
    (lambda x, y: dan_ext.mmd_test(x, y[:, :2]), ValueError, "x and y must have the same feature dimension"),
    (lambda x, y: dan_ext.mmd_test(x, y, alpha="0.05"), ValueError, "alpha must be a number in \\(0, 1\\)"),
    (lambda x, y: dan_ext.mmd_test(x, y, alpha=True), ValueError, "alpha must be a number in \\(0, 1\\)"),
    (lambda x, y: dan_ext.mmd_test(x, y, split=7, learn_betas=False), ValueError, "split must be a number in"),
    (lambda x, y: dan_ext.mmd_test(x, y, permutations=-5), ValueError, "permutations must be an integer >= 1"),
    (lambda x, y: dan_ext.mmd_test(x, y, generator=0), ValueError, "generator must be a CPU torch.Generator"),
])
def test_argument_errors_name_the_tests_own_arguments(call, error, message):
    """mmd_test's inputs are x and y (not the op's source and target); its own arguments are checked
    whether or not this call uses them, each in one line."""
    x, y = _null(torch.Generator().manual_seed(0), n=20)
    with pytest.raises(error, match=message) as e:
        call(x, y)
    assert "\n" not in str(e.value) and "source" not in str(e.value) and "target" not in str(e.value)


@pytest.mark.parametrize("estimator", dan_ext.ESTIMATORS)
def test_returned_bandwidths_are_not_the_callers_tensor(estimator):
    x, y = _null(torch.Generator().manual_seed(0), n=24)
    given = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    returned = [dan_ext.mkmmd_stats(x, y, given, estimator=estimator).bandwidths,
                reference_estimators.mkmmd_stats(x, y, given, estimator=estimator).bandwidths,
                dan_ext.mmd_test(x, y, bandwidths=given, estimator=estimator, learn_betas=False,
                                 permutations=5).bandwidths]
    for b in returned:
        b.mul_(10.0)  # a caller editing the result in place must not edit its input
    assert given.tolist() == [1.0, 2.0, 4.0]
