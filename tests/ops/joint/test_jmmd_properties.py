"""Properties of the joint MMD that tie it to what is already known: one layer is MK-MMD; the product
over layers is a product (a layer whose kernel is identically 1 drops out, a constant kernel scales it,
two copies of a one-kernel layer are its kernel squared); swapping the domains leaves it unchanged;
the result does not depend on the thread count."""
import pytest
import torch

import dan_ext
from conftest import DEVICES, make_pair
from jmmd_inputs import make_layers, requiring_grad

SHAPES = [(2, 2, 1, 1), (7, 9, 5, 3), (65, 64, 31, 5), (100, 37, 300, 2), (517, 301, 17, 7)]


def _close(a, b, rel):
    """Equal to within ``rel`` of b's largest magnitude (elementwise relative error is meaningless where a
    gradient entry nearly cancels)."""
    a, b = a.detach().double(), b.detach().double()
    assert torch.isfinite(a).all()
    assert float((a - b).abs().max()) <= rel * float(b.abs().max()) + 1e-300, (a, b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("explicit", [False, True], ids=["derived", "explicit"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_one_layer_is_mkmmd(shape, explicit, device):
    """L = 1: the same estimate as mkmmd_linear (to rounding: MK-MMD sums each kernel over the tuples and
    then weights, the joint MMD must weight within a tuple), the same derived bandwidths bit for bit
    (one distance code, one bandwidth rule), the same gradients to rounding."""
    ns, nt, d, m = shape
    gen = torch.Generator().manual_seed(ns + d + m)
    xs, xt = make_pair(ns, nt, d, device=device, gen=gen)
    xs.requires_grad_(True)
    xt.requires_grad_(True)
    betas = (torch.rand(m, generator=gen, dtype=torch.float64) + 0.1).tolist()
    bw = (2.0 * d * 2.0 ** torch.linspace(-2, 2, m, dtype=torch.float64)).tolist() if explicit else None
    mk = dan_ext.mkmmd_linear_stats(xs, xt, bw, betas, kernel_num=m, kernel_mul=1.5, covariance=False)
    jm = dan_ext.jmmd_linear_stats([xs], [xt], None if bw is None else [bw], [betas], kernel_nums=m, kernel_muls=1.5)
    assert torch.equal(jm.bandwidths[0], mk.bandwidths)
    assert jm.num_tuples == mk.num_tuples
    _close(jm.loss, mk.loss, 1e-14)
    for a, b in zip(torch.autograd.grad(jm.loss, (xs, xt)), torch.autograd.grad(mk.loss, (xs, xt))):
        _close(a, b, 1e-14)


@pytest.mark.parametrize("device", DEVICES)
def test_swapping_the_domains_changes_nothing(device):
    """JMMD(t, s) = JMMD(s, t): the two cross pairs of a tuple swap with the domains (to rounding: their
    order in g does), and so do the gradients."""
    for ns, nt, dims in ((40, 40, (8, 3)), (33, 50, (1, 300, 2)), (9, 7, (4,))):
        sources, targets = make_layers(ns, nt, dims, device=device, gen=torch.Generator().manual_seed(ns))
        sources, targets = requiring_grad(sources), requiring_grad(targets)
        kw = dict(kernel_nums=[3] + [1] * (len(dims) - 1))
        st = dan_ext.jmmd_linear(sources, targets, **kw)
        ts = dan_ext.jmmd_linear(targets, sources, **kw)
        _close(ts, st, 1e-14)
        g_st = torch.autograd.grad(st, sources + targets)
        g_ts = torch.autograd.grad(ts, targets + sources)
        for a, b in zip(g_ts[len(dims):] + g_ts[:len(dims)], g_st):
            _close(a, b, 1e-13)


@pytest.mark.parametrize("device", DEVICES)
def test_a_layer_whose_kernel_is_one_drops_out(device):
    """A layer with a huge bandwidth has k = sum(beta) = 1 exactly: the joint MMD of the other layers,
    bit for bit, gradients included; its own gradient is ~1e-300. With weights summing to 1/4 instead,
    the estimate and the other layers' gradients are exactly 1/4 of it."""
    (x, junk), (y, junk_t) = make_layers(31, 30, (6, 5), device=device, gen=torch.Generator().manual_seed(2))
    x, y, junk, junk_t = requiring_grad([x, y, junk, junk_t])
    alone = dan_ext.jmmd_linear([x], [y], kernel_nums=3)
    g_alone = torch.autograd.grad(alone, (x, y))
    for betas, factor in (([None, [0.5, 0.5]], 1.0), ([None, [0.125, 0.125]], 0.25)):
        for order in (0, 1):  # the constant layer first or last
            srcs, tgts = ([x, junk], [y, junk_t]) if order == 0 else ([junk, x], [junk_t, y])
            bws = [None, [1e300, 1e300]] if order == 0 else [[1e300, 1e300], None]
            bts = betas if order == 0 else betas[::-1]
            joint = dan_ext.jmmd_linear(srcs, tgts, bws, bts, kernel_nums=[3, 2] if order == 0 else [2, 3])
            assert torch.equal(joint, alone * factor)
            gx, gy, gj, gjt = torch.autograd.grad(joint, (x, y, junk, junk_t))
            assert torch.equal(gx, g_alone[0] * factor) and torch.equal(gy, g_alone[1] * factor)
            assert float(gj.abs().max()) < 1e-290 and float(gjt.abs().max()) < 1e-290


@pytest.mark.parametrize("device", DEVICES)
def test_a_layer_twice_is_its_kernel_squared(device):
    """Two copies of a one-kernel layer: k(D)^2 = exp(-D / (gamma / 2)), i.e. MK-MMD with half the
    bandwidth; the gradient to the shared tensor is the sum over both copies (the product rule)."""
    xs, xt = make_pair(41, 44, 9, device=device, gen=torch.Generator().manual_seed(4))
    xs.requires_grad_(True)
    gamma = 14.0
    joint = dan_ext.jmmd_linear([xs, xs], [xt, xt], [[gamma], [gamma]])
    single = dan_ext.mkmmd_linear(xs, xt, [gamma / 2])
    _close(joint, single, 1e-13)
    _close(torch.autograd.grad(joint, xs)[0], torch.autograd.grad(single, xs)[0], 1e-13)


def test_deterministic_across_runs_and_thread_counts():
    sources, targets = make_layers(4001, 3999, (33, 7), dtype=torch.float32)
    sources = requiring_grad(sources)
    threads = torch.get_num_threads()
    results = []
    try:
        for nt in (1, 2, 1, 2):
            torch.set_num_threads(nt)
            st = dan_ext.jmmd_linear_stats(sources, targets, kernel_nums=(9, 1))
            results.append((st.loss, *st.bandwidths, *torch.autograd.grad(st.loss, sources)))
    finally:
        torch.set_num_threads(threads)
    for r in results[1:]:
        for a, b in zip(r, results[0]):
            assert torch.equal(a, b)
