"""Bad input gets a clear error naming the argument."""
import pytest
import torch

import dan_ext
from dan_ext import reference

X = torch.randn(8, 4)
Y = torch.randn(8, 4)


@pytest.mark.parametrize("fn", [dan_ext.mkmmd_linear, reference.mkmmd_linear, dan_ext.mkmmd_linear_stats])
@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        ((torch.randn(8), Y), {}, ValueError, "source must be 2-D"),
        ((X, torch.randn(2, 8, 4)), {}, ValueError, "target must be 2-D"),
        ((X, torch.randn(8, 5)), {}, ValueError, "same feature dimension"),
        ((torch.randn(1, 4), Y), {}, ValueError, "source needs at least 2 rows"),
        ((X, torch.randn(1, 4)), {}, ValueError, "target needs at least 2 rows"),
        ((torch.ones(8, 4, dtype=torch.int64), Y), {}, TypeError, "source must be a floating-point"),
        ((X, Y.double()), {}, TypeError, "same dtype"),
        ((X.numpy(), Y), {}, TypeError, "source must be a torch.Tensor"),
        ((X, Y), {"bandwidths": [[1.0, 2.0]]}, ValueError, "bandwidths must be 1-D"),
        ((X, Y), {"bandwidths": [1.0, 0.0]}, ValueError, "bandwidths must all be finite and positive"),
        ((X, Y), {"bandwidths": [1.0, -2.0]}, ValueError, "bandwidths must all be finite and positive"),
        ((X, Y), {"bandwidths": "wide"}, TypeError, "bandwidths must be"),
        ((X, Y), {"betas": [0.5, 0.5]}, ValueError, r"betas must have one weight per kernel \(5\)"),
        ((X, Y), {"bandwidths": [1.0, 2.0], "betas": [1.0, -0.1]}, ValueError, "betas must be finite and non-negative"),
        ((X, Y), {"kernel_num": 0}, ValueError, "kernel_num must be an integer >= 1"),
        ((X, Y), {"kernel_num": 2.5}, ValueError, "kernel_num must be an integer >= 1"),
        ((X, Y), {"kernel_mul": 0.0}, ValueError, "kernel_mul must be a finite positive number"),
        ((X, Y), {"kernel_mul": float("inf")}, ValueError, "kernel_mul must be a finite positive number"),
        ((X, Y), {"kernel_mul": float("nan")}, ValueError, "kernel_mul must be a finite positive number"),
        # Derived bandwidths gbar * kernel_mul**(u - 2) would be 0 or inf: refused like explicit ones.
        ((X, Y), {"kernel_mul": 1e-300}, ValueError, "outside float64's range"),
        ((X, Y), {"kernel_mul": 1e200}, ValueError, "outside float64's range"),
        ((X, Y), {"bandwidths": [1.0, float("inf")]}, ValueError, "bandwidths must all be finite and positive"),
        ((X, Y), {"bandwidths": [1.0, float("nan")]}, ValueError, "bandwidths must all be finite and positive"),
        ((X, Y), {"bandwidths": [1.0, 2.0], "betas": [1.0, float("nan")]}, ValueError, "betas must be finite"),
    ],
)
def test_bad_input_raises(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_different_devices():
    with pytest.raises(ValueError, match="same device"):
        dan_ext.mkmmd_linear(X, Y.cuda())


def test_module_rejects_bad_betas():
    loss = dan_ext.MKMMDLoss(kernel_num=3)
    with pytest.raises(ValueError, match=r"betas must have one weight per kernel \(3\)"):
        loss.set_betas([1.0, 0.0])
    with pytest.raises(ValueError, match="non-negative"):
        loss.set_betas([1.0, -1.0, 0.5])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kernel_num": 0}, "kernel_num must be an integer >= 1"),
        ({"kernel_mul": -1.0}, "kernel_mul must be a finite positive number"),
        ({"kernel_mul": 1e-300}, "outside float64's range"),
        ({"bandwidths": [1.0, -1.0]}, "bandwidths must all be finite and positive"),
        ({"bandwidths": [[1.0]]}, "bandwidths must be 1-D"),
        ({"betas": [1.0, 0.0]}, r"one weight per kernel \(5\)"),
        ({"bandwidths": [1.0, 2.0], "betas": [-1.0, 2.0]}, "betas must be finite and non-negative"),
    ],
)
def test_module_rejects_bad_arguments_at_construction(kwargs, match):
    """Not at the first forward, where the error would point at the training loop."""
    with pytest.raises(ValueError, match=match):
        dan_ext.MKMMDLoss(**kwargs)


def _module(x, y, **kw):
    return dan_ext.MKMMDLoss(**kw)(x, y)


_OPS = [dan_ext.mkmmd_linear, reference.mkmmd_linear, dan_ext.mkmmd_linear_stats, _module]


def _repeated_rows(dtype):
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    x[1], y[3] = x[0], y[2]  # distance 0 within a quad-tuple: 0 / bandwidth, the case a subnormal one breaks
    return x.to(dtype), y.to(dtype)


@pytest.mark.parametrize("fn", _OPS)
@pytest.mark.parametrize("dtype, smallest", [(torch.float64, "2.2250738585072014e-308"),
                                             (torch.float32, "1.1754943508222875e-38"),
                                             (torch.bfloat16, "1.1754943508222875e-38")])
def test_subnormal_bandwidths_are_refused_like_zero(fn, dtype, smallest):
    """bandwidths=[1e-310, 1.0] gave a NaN loss and NaN gradients (1/bandwidth overflows, and a
    repeated row gives 0 * inf); float32 inputs broke the same way below float32's smallest normal.
    Refused with the smallest allowed value; bandwidths at that value give finite results."""
    x, y = _repeated_rows(dtype)
    tiny = float(smallest)
    for bad in ([1e-310, 1.0], [tiny / 2, 1.0], torch.tensor([0.0, 1.0], dtype=torch.float32), torch.tensor([0, 1])):
        at_least, inputs = smallest, str(dtype)[6:]
        if fn is _module and float(torch.as_tensor(bad).min()) < 2.2250738585072014e-308:
            # refused at construction, before the inputs' dtype is known
            at_least, inputs = "2.2250738585072014e-308", "float64"
        with pytest.raises(ValueError, match=rf"^bandwidths must all be finite and positive, at least {at_least} for "
                                             rf"{inputs} inputs .*, got \[") as err:
            fn(x, y, bandwidths=bad)
        assert "\n" not in str(err.value)
    x.requires_grad_(True)
    y.requires_grad_(True)
    for ok in ([tiny, 1.0], [tiny, tiny, 1.0]):
        out = fn(x, y, bandwidths=ok)
        loss = out.loss if isinstance(out, dan_ext.MKMMDStats) else out
        gx, gy = torch.autograd.grad(loss, (x, y))
        assert torch.isfinite(loss) and torch.isfinite(gx).all() and torch.isfinite(gy).all(), (ok, loss)


def test_module_refuses_a_subnormal_bandwidth_at_construction():
    with pytest.raises(ValueError, match="at least 2.2250738585072014e-308"):
        dan_ext.MKMMDLoss(bandwidths=[1.0, 1e-310])


@pytest.mark.parametrize("fn", _OPS + [lambda x, y, **kw: dan_ext.mmd_test(x.repeat(4, 1), y.repeat(4, 1), **kw)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_derived_bandwidths_below_float32_are_refused(fn, dtype):
    """Identical rows make the derived bandwidths MIN_BANDWIDTH * kernel_mul**(u - m//2): with
    kernel_mul=1e10 and 9 kernels the smallest is 1e-52, normal in float64 but 0 in float32, in
    which float32 and half inputs are computed: NaN gradients (op) and a NaN loss (reference)."""
    x = torch.zeros(8, 3, dtype=dtype)
    with pytest.raises(ValueError, match=r"^kernel_mul=10000000000.0 with kernel_num=9 gives bandwidth factors "
                                         r"down to 1e-40: the smallest derived bandwidth, 1e-12 \* 1e-40 "
                                         r"\(identical rows\), is below 1.18e-38, the smallest normal float32"):
        fn(x, x.clone(), kernel_mul=1e10, kernel_num=9)


@pytest.mark.parametrize("fn", _OPS)
@pytest.mark.parametrize("dtype, kernel_mul", [(torch.float64, 1e70), (torch.float32, 1e6), (torch.float16, 1e6),
                                               (torch.float32, 2.0)])
def test_identical_rows_give_zero_loss_and_gradient(fn, dtype, kernel_mul):
    """The documented finite behaviour when the derived bandwidth would be 0 (all rows identical):
    gbar is raised to MIN_BANDWIDTH, so the loss and the gradients are exactly 0, for the largest
    kernel_mul near the largest each dtype allows (1e70 for float64, 1e6 for the others) as for the default."""
    x = torch.full((8, 3), 0.5, dtype=dtype, requires_grad=True)
    y = torch.full((8, 3), 0.5, dtype=dtype, requires_grad=True)
    out = fn(x, y, kernel_mul=kernel_mul, kernel_num=9)
    loss = out.loss if isinstance(out, dan_ext.MKMMDStats) else out
    gx, gy = torch.autograd.grad(loss, (x, y))
    assert float(loss.detach()) == 0.0 and not gx.any() and not gy.any(), (loss, gx, gy)
    if isinstance(out, dan_ext.MKMMDStats):
        expected = dan_ext.MIN_BANDWIDTH * kernel_mul ** (torch.arange(9, dtype=torch.float64) - 4)
        torch.testing.assert_close(out.bandwidths, expected, rtol=1e-12, atol=0)


def test_integral_numbers_are_accepted_and_bools_refused():
    """kernel_num=np.int64(3) was refused as 'not an integer' (only int passed isinstance), and
    kernel_mul=np.float32(2.0) as 'not a number'. Any integral number is accepted, bool is not."""
    np = pytest.importorskip("numpy")
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 3, dtype=torch.float64)
    want = dan_ext.mkmmd_linear(x, y, kernel_num=3, kernel_mul=2.0)
    for kn, km in ((np.int64(3), 2.0), (np.int32(3), np.float32(2.0)), (3, np.int64(2)), (np.uint8(3), np.float64(2))):
        for fn in _OPS:
            out = fn(x, y, kernel_num=kn, kernel_mul=km)
            out = out.loss if isinstance(out, dan_ext.MKMMDStats) else out
            torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-15)
    module = dan_ext.MKMMDLoss(kernel_num=np.int64(3), kernel_mul=np.float32(2.0))
    assert type(module.kernel_num) is int and module.betas.shape == (3,)
    assert dan_ext.mmd_test(x, y, kernel_num=np.int64(3), learn_betas=False).betas.shape == (3,)
    torch.testing.assert_close(dan_ext.default_bandwidths(torch.tensor(1.0), np.int64(3), 2.0),
                               torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64))
    assert dan_ext.solve_beta_qp([0.1, 0.2], np.eye(2), max_iter=np.int64(10)).status == "optimal"
    for bad in (True, np.bool_(True), 3.0, np.float64(3.0), "3"):
        with pytest.raises(ValueError, match=r"^kernel_num must be an integer >= 1, got "):
            dan_ext.mkmmd_linear(x, y, kernel_num=bad)
        with pytest.raises(ValueError, match=r"^kernel_num must be an integer >= 1, got "):
            dan_ext.MKMMDLoss(kernel_num=bad)
    with pytest.raises(ValueError, match=r"^kernel_num must be an integer >= 1, got 0"):
        dan_ext.default_bandwidths(torch.tensor(1.0), np.int64(0), 2.0)
    for bad in (True, np.bool_(True), "2"):
        with pytest.raises(ValueError, match="^kernel_mul must be a finite positive number"):
            dan_ext.mkmmd_linear(x, y, kernel_mul=bad)
    for bad in (0, True, 2.5):
        with pytest.raises(ValueError, match=r"^max_iter must be an integer >= 1, got "):
            dan_ext.solve_beta_qp([0.1, 0.2], np.eye(2), max_iter=bad)
