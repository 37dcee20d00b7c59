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
        ((X, Y), {"bandwidths": [1.0, 0.0]}, ValueError, "bandwidths must all be positive"),
        ((X, Y), {"bandwidths": [1.0, -2.0]}, ValueError, "bandwidths must all be positive"),
        ((X, Y), {"bandwidths": "wide"}, TypeError, "bandwidths must be"),
        ((X, Y), {"betas": [0.5, 0.5]}, ValueError, r"betas must have one weight per kernel \(5\)"),
        ((X, Y), {"bandwidths": [1.0, 2.0], "betas": [1.0, -0.1]}, ValueError, "betas must be non-negative"),
        ((X, Y), {"kernel_num": 0}, ValueError, "kernel_num must be an integer >= 1"),
        ((X, Y), {"kernel_num": 2.5}, ValueError, "kernel_num must be an integer >= 1"),
        ((X, Y), {"kernel_mul": 0.0}, ValueError, "kernel_mul must be a positive number"),
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
    with pytest.raises(ValueError, match=r"betas must have shape \(3,\)"):
        loss.set_betas([1.0, 0.0])
    with pytest.raises(ValueError, match="non-negative"):
        loss.set_betas([1.0, -1.0, 0.5])
