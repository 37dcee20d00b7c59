"""JAN through the method seam: the penalty is the joint MMD of (penultimate features, softmax of
the logits) with the published kernels, checked against the float64 reference written from the
formula; it trains, resumes bit for bit, and under two ranks computes what one process does."""
import math
from types import SimpleNamespace

import pytest
import torch

from dan.config import TrainConfig, checked
from dan.methods import get_method
from dan.methods.jan import JAN, SOFTMAX_SIGMA
from dan_helpers import straight_and_resumed


def _batch(seed=0, n=16, d=12, classes=5):
    gen = torch.Generator().manual_seed(seed)
    return ({"f": torch.randn(n, d, generator=gen), "y": 2 * torch.randn(n, classes, generator=gen)},
            {"f": torch.randn(n, d, generator=gen) + 1, "y": 2 * torch.randn(n, classes, generator=gen)})


def _joint(fs, ft, ps, pt, gammas_f, gamma_p):
    """The quad-tuple joint MMD written out in float64: features' 5-kernel mean times the softmax kernel."""
    def k(a, b):
        d2 = ((a[0] - b[0]) ** 2).sum()
        kf = sum(torch.exp(-d2 / g) for g in gammas_f) / len(gammas_f)
        return kf * torch.exp(-((a[1] - b[1]) ** 2).sum() / gamma_p)
    n = 2 * (min(len(fs), len(ft)) // 2)
    total = 0.0
    for i in range(n // 2):
        s0, s1 = (fs[2 * i], ps[2 * i]), (fs[2 * i + 1], ps[2 * i + 1])
        t0, t1 = (ft[2 * i], pt[2 * i]), (ft[2 * i + 1], pt[2 * i + 1])
        total = total + k(s0, s1) + k(t0, t1) - k(s0, t1) - k(s1, t0)
    return 2 * total / n


def test_the_penalty_is_the_joint_mmd_of_features_and_softmax():
    src, tgt = _batch()
    jan = JAN("f", "y")
    value = jan(src, tgt, 0.5)
    fs, ft = src["f"].double(), tgt["f"].double()
    ps, pt = torch.softmax(src["y"].double(), 1), torch.softmax(tgt["y"].double(), 1)
    gbar = torch.cat([((fs[0::2] - fs[1::2]) ** 2).sum(1), ((ft[0::2] - ft[1::2]) ** 2).sum(1),
                      ((fs[0::2] - ft[1::2]) ** 2).sum(1), ((fs[1::2] - ft[0::2]) ** 2).sum(1)]).mean()
    gammas = [gbar * 2.0 ** (u - 2) for u in range(5)]
    expect = _joint(fs, ft, ps, pt, gammas, 2 * SOFTMAX_SIGMA ** 2)
    assert value.dtype == torch.float32 and float(value) == pytest.approx(float(expect), rel=1e-5)
    assert jan.step_log()["jmmd"] == pytest.approx(float(expect), rel=1e-5)


def test_gradients_reach_both_layers_and_match_the_reference():
    src, tgt = _batch(1)
    src = {k: v.double().requires_grad_(True) for k, v in src.items()}
    value = JAN("f", "y")(src, tgt, 0.5)
    grads = torch.autograd.grad(value, (src["f"], src["y"]))
    fs, ys = src["f"].detach().requires_grad_(True), src["y"].detach().requires_grad_(True)
    import dan_ext

    ref = dan_ext.reference.jmmd_linear([fs, torch.softmax(ys, 1)], [tgt["f"].double(), torch.softmax(tgt["y"].double(), 1)],
                                        [None, [2 * SOFTMAX_SIGMA ** 2]], kernel_nums=[5, 1])
    for g, r in zip(grads, torch.autograd.grad(ref, (fs, ys))):
        assert g.abs().sum() > 0
        torch.testing.assert_close(g.double(), r, rtol=1e-5, atol=1e-9)


def test_the_method_takes_the_penultimate_layer_and_the_logits():
    net = SimpleNamespace(adapted=("fc6", "fc7", "fc8"))
    assert get_method("jan").build(TrainConfig(method="jan"), net).layers == ("fc7", "fc8")
    with pytest.raises(ValueError, match="method jan has no kernel weights"):
        # the one rule of dan.config: a setting the method does not declare
        checked(TrainConfig(method="jan", fixed_betas="1,1,1,1,1"), load_source=False, load_target=False)
    with pytest.raises(ValueError, match="--kernel-mul"):
        get_method("jan").check(TrainConfig(method="jan", kernel_mul=1e30))


def test_dan_train_with_jan_resumes_bit_for_bit(tmp_path):
    straight, resumed, a, b = straight_and_resumed(tmp_path, "jan")
    assert a["history"] == b["history"] and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert straight["final_jmmd"] == resumed["final_jmmd"] and math.isfinite(straight["final_jmmd"])
