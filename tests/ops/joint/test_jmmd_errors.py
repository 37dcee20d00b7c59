"""Bad arguments to the joint MMD get a one-line error naming the argument, down to the layer."""
import pytest
import torch

import dan_ext
from dan_ext import reference

S = [torch.randn(8, 4), torch.randn(8, 3)]
T = [torch.randn(9, 4), torch.randn(9, 3)]


def _replace(xs, layer, value):
    xs = list(xs)
    xs[layer] = value
    return xs


CASES = [
    ((S[0], T), {}, TypeError, r"^sources must be a list or tuple of tensors, one per layer, got Tensor$"),
    ((S, T[:1]), {}, ValueError, r"^sources and targets must have one tensor per layer each, got 2 and 1$"),
    (([], []), {}, ValueError, r"^sources and targets must hold 1 to 16 layers, got 0$"),
    (([S[0]] * 17, [T[0]] * 17), {}, ValueError, r"^sources and targets must hold 1 to 16 layers, got 17$"),
    ((_replace(S, 1, torch.randn(8)), T), {}, ValueError, r"^sources\[1\] must be 2-D"),
    ((S, _replace(T, 0, torch.randn(9, 5))), {}, ValueError,
     r"^sources\[0\] and targets\[0\] must have the same feature dimension, got 4 and 5$"),
    ((_replace(S, 1, torch.randn(1, 3)), T), {}, ValueError, r"^sources\[1\] needs at least 2 rows"),
    ((S, _replace(T, 1, torch.ones(9, 3, dtype=torch.int64))), {}, TypeError,
     r"^targets\[1\] must be a floating-point tensor"),
    ((S, _replace(T, 1, T[1].double())), {}, TypeError, r"^sources\[1\] and targets\[1\] must have the same dtype"),
    ((_replace(S, 1, S[1].double()), _replace(T, 1, T[1].double())), {}, TypeError,
     r"^sources\[1\] is torch.float64 and sources\[0\] torch.float32: every layer must have the same dtype$"),
    ((_replace(S, 1, torch.randn(7, 3)), T), {}, ValueError,
     r"^sources\[1\] has 7 rows and sources\[0\] 8: every layer must hold the features of the same samples"),
    ((S, _replace(T, 1, torch.randn(10, 3))), {}, ValueError, r"^targets\[1\] has 10 rows and targets\[0\] 9"),
    ((S, [T[0], T[1].numpy()]), {}, TypeError, r"^targets\[1\] must be a torch.Tensor, got ndarray$"),
    ((S, T), {"bandwidths": [1.0, 2.0]}, ValueError, r"^bandwidths\[0\] must be 1-D with one entry per kernel"),
    ((S, T), {"bandwidths": torch.ones(2, 3)}, TypeError, r"^bandwidths must be None or a list with one entry per layer"),
    ((S, T), {"bandwidths": [[1.0]]}, ValueError, r"^bandwidths must have one entry per layer \(2\), got 1$"),
    ((S, T), {"bandwidths": [None, [1.0, 0.0]]}, ValueError, r"^bandwidths\[1\] must all be finite and positive"),
    ((S, T), {"bandwidths": [None, [1.0, float("nan")]]}, ValueError, r"^bandwidths\[1\] must all be finite"),
    ((S, T), {"bandwidths": [None, "wide"]}, TypeError, r"^bandwidths\[1\] must be a 1-D tensor or sequence"),
    ((S, T), {"betas": [None, [0.5, 0.5]]}, ValueError, r"^betas\[1\] must have one weight per kernel \(5\)"),
    ((S, T), {"betas": [[0.2] * 5, [0.5] * 4 + [-0.1]]}, ValueError,
     r"^betas\[1\] must be finite and non-negative"),
    ((S, T), {"betas": [None]}, ValueError, r"^betas must have one entry per layer \(2\), got 1$"),
    ((S, T), {"bandwidths": [[1.0, 2.0], None], "betas": [[1.0], None]}, ValueError,
     r"^betas\[0\] must have one weight per kernel \(2\)"),
    ((S, T), {"kernel_nums": (5, 0)}, ValueError, r"^kernel_nums\[1\] must be an integer >= 1, got 0$"),
    ((S, T), {"kernel_nums": 2.5}, ValueError, r"^kernel_nums\[0\] must be an integer >= 1"),
    ((S, T), {"kernel_nums": (5, 1, 1)}, ValueError, r"^kernel_nums must have one entry per layer \(2\), got 3$"),
    ((S, T), {"kernel_muls": (2.0, 0.0)}, ValueError, r"^kernel_muls\[1\] must be a finite positive number"),
    ((S, T), {"kernel_muls": [2.0, 1e200]}, ValueError, r"^kernel_muls\[1\]=1e\+200 with kernel_num=5 gives"),
    ((S, T), {"kernel_muls": "2"}, ValueError, r"^kernel_muls\[0\] must be a finite positive number"),
]


@pytest.mark.parametrize("fn", [dan_ext.jmmd_linear, dan_ext.jmmd_linear_stats, reference.jmmd_linear],
                         ids=["op", "stats", "reference"])
@pytest.mark.parametrize("args, kwargs, exc, match", CASES, ids=[c[3][1:40] for c in CASES])
def test_bad_arguments_raise_one_line(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match) as err:
        fn(*args, **kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_layers_on_different_devices():
    with pytest.raises(ValueError, match=r"^sources\[1\] is on cuda:0 and sources\[0\] on cpu"):
        dan_ext.jmmd_linear([S[0], S[1].cuda()], [T[0], T[1].cuda()])


def test_good_variants_are_accepted():
    """Tuples or lists, per-layer or shared kernel_nums/kernel_muls, numpy integers, tensors as bandwidths."""
    import numpy as np

    base = dan_ext.jmmd_linear(S, T, kernel_nums=[3, 3], kernel_muls=[1.5, 1.5])
    for kw in (dict(kernel_nums=3, kernel_muls=1.5), dict(kernel_nums=(np.int64(3), 3), kernel_muls=np.float64(1.5))):
        assert torch.equal(dan_ext.jmmd_linear(tuple(S), tuple(T), **kw), base)
    bw = dan_ext.jmmd_linear_stats(S, T, kernel_nums=3, kernel_muls=1.5).bandwidths
    assert torch.equal(dan_ext.jmmd_linear(S, T, [bw[0], bw[1].tolist()]), base)
