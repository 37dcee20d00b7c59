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
