"""The linear-time two-sample test: calibration under the null, power, errors."""
import pytest
import torch

import dan_ext
from conftest import DEVICES


def _rejection_rate(sampler, reps, seed, **kw):
    gen = torch.Generator().manual_seed(seed)
    rejects = 0
    for _ in range(reps):
        x, y = sampler(gen)
        rejects += dan_ext.mmd_test(x, y, generator=gen, **kw).reject
    return rejects / reps


@pytest.mark.parametrize("learn_betas", [True, False])
def test_calibrated_under_the_null(learn_betas):
    def null(gen):
        return torch.randn(200, 3, generator=gen, dtype=torch.float64), torch.randn(200, 3, generator=gen, dtype=torch.float64)

    rate = _rejection_rate(null, 300, seed=11 if learn_betas else 12, learn_betas=learn_betas)
    assert 0.01 <= rate <= 0.10, rate


def test_rejects_a_clear_shift_nearly_always():
    def shifted(gen):
        return torch.randn(200, 3, generator=gen), torch.randn(200, 3, generator=gen) + 0.8

    # measured: 0.91 over 300 tests (t reference with J = 25; the normal reference's 0.96 came with a 6%
    # type I error at this size), 0.94 on these 50
    assert _rejection_rate(shifted, 50, seed=3) >= 0.86


def _lattice(gen):
    """y differs from x mostly at a small scale: N(0, 1) snapped to the integers plus N(0, 0.05^2) jitter.
    Wide kernels barely see the difference; the narrowest ones do."""
    n = 1000 if gen.initial_seed() != 0 else 4000
    x = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    z = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    y = torch.round(z) + 0.05 * torch.randn(n, 1, generator=gen, dtype=torch.float64)
    return x, y


def test_learned_betas_at_least_as_powerful_as_uniform():
    kw = dict(kernel_num=9, kernel_mul=2.0)
    learned = _rejection_rate(_lattice, 100, seed=5, learn_betas=True, **kw)
    uniform = _rejection_rate(_lattice, 100, seed=5, learn_betas=False, **kw)
    # Measured: learned ~0.7, uniform ~0.08 (rejection rates at alpha = 0.05, n = 1000).
    assert learned >= uniform + 0.3 and learned >= 0.5, (learned, uniform)
    gen = torch.Generator().manual_seed(0)
    res = dan_ext.mmd_test(*_lattice(gen), generator=gen, **kw)
    assert res.beta_status == "optimal"
    assert res.betas[:3].sum() > 0.5, res.betas  # weight goes to the narrow kernels


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_result_fields_and_devices(device, dtype):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(101, 4, generator=gen).to(device, dtype)
    y = (torch.randn(120, 4, generator=gen) + 1.0).to(device, dtype)
    r = dan_ext.mmd_test(x, y, generator=gen)
    assert r.reject and r.p_value < 1e-2 and r.z > 2.5 and r.std_error > 0
    assert abs(r.statistic / r.std_error - r.z) < 1e-9
    assert r.betas.shape == (5,) and abs(float(r.betas.sum()) - 1) < 1e-12 and r.num_tuples == 25
    r2 = dan_ext.mmd_test(x, y, generator=torch.Generator().manual_seed(1), bandwidths=[1.0, 8.0], learn_betas=False)
    assert r2.beta_status == "uniform" and r2.num_tuples == 50 and torch.allclose(r2.bandwidths, torch.tensor([1.0, 8.0], dtype=torch.float64))


def test_bad_input():
    x = torch.randn(10, 2)
    with pytest.raises(ValueError, match="too few to split"):
        dan_ext.mmd_test(x, torch.randn(6, 2))
    with pytest.raises(ValueError, match="split must be a number in"):
        dan_ext.mmd_test(x, x, split=1.0)
    with pytest.raises(ValueError, match="alpha must be a number in"):
        dan_ext.mmd_test(x, x, alpha=0)
    with pytest.raises(ValueError, match="same feature dimension"):
        dan_ext.mmd_test(x, torch.randn(10, 3))
    with pytest.raises(TypeError, match="floating-point"):
        dan_ext.mmd_test(x.long(), x)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", ["x", "y"])
def test_non_finite_data_is_an_error_naming_the_input(bad, where):
    """One NaN used to give 'not distinguishable, p = 0.5' (and, by default, an error blaming the
    bandwidths the user never passed)."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(200, 3, generator=gen), torch.randn(200, 3, generator=gen)
    (x if where == "x" else y)[7, 1] = bad
    for learn in (True, False):
        with pytest.raises(ValueError, match=rf"^{where} holds 1 non-finite value\(s\) \(NaN or Inf\) of 600"):
            dan_ext.mmd_test(x, y, learn_betas=learn)


@pytest.mark.parametrize("scale, dtype", [(1e200, torch.float64), (1e153, torch.float64), (1e20, torch.float32)])
@pytest.mark.parametrize("learn_betas", [True, False])
def test_overflowing_squared_distances_name_the_features(scale, dtype, learn_betas):
    """Features near 1e200 overflow their squared distances (near 1e153, their mean, the derived
    bandwidth): the default test blamed 'bandwidths' the user never passed, and learn_betas=False
    answered 'not distinguishable, p = 0.5' from a NaN statistic. Now one error names the data."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen, dtype=dtype) * scale
    y = torch.randn(64, 3, generator=gen, dtype=dtype) * scale
    precision = "float64" if dtype == torch.float64 else "float32"
    with pytest.raises(ValueError, match=rf"^x/y: squared distances between rows overflow {precision} \(features "
                                         r"up to [0-9.]+e\+[0-9]+\); rescale the features$"):
        dan_ext.mmd_test(x, y, learn_betas=learn_betas, generator=gen)
    # One large row is enough, wherever the shuffle puts it; rescaled, the same data test fine.
    y[5, 0] = scale * 10
    with pytest.raises(ValueError, match="^x/y: squared distances between rows overflow"):
        dan_ext.mmd_test(x, y, learn_betas=learn_betas, generator=gen)
    r = dan_ext.mmd_test(x / scale, y / scale, learn_betas=learn_betas, generator=gen)
    assert 0.0 <= r.p_value <= 1.0 and torch.isfinite(r.bandwidths).all()
