"""The joint-MMD benchmark rows import and run one tiny case of each implementation (no timing), and
the materialised peer computes what its docstring says (against an explicit double loop)."""
import itertools
import sys
from pathlib import Path

import torch

sys.path.append(str(Path(__file__).resolve().parents[3]))  # appended: dan_ext still from site-packages
from benchmarks import cases, peers  # noqa: E402


def test_joint_rows_run_and_agree():
    sources, targets = cases.make_joint_inputs(64, cases.JMMD_DIMS, torch.float32, "cpu")
    impls = cases.joint_implementations(sources, targets, cases.JMMD_MS)
    assert set(impls) == set(cases.JMMD_IMPLS)
    for fn in impls.values():
        grads = cases.step(fn, True, (*sources, *targets))()
        assert len(grads) == 4 and all(torch.isfinite(g).all() for g in grads)
    torch.testing.assert_close(impls[cases.JMMD_IMPLS[0]](), impls[cases.JMMD_IMPLS[1]](), rtol=1e-5, atol=1e-7)
    assert [c[0] for c in cases.joint_grid("cpu")] == list(cases.JMMD_NS)


def test_joint_quadratic_peer_is_the_all_pairs_statistic():
    gen = torch.Generator().manual_seed(0)
    ns, nt, dims, ms, mul = 5, 4, (3, 2), (3, 1), 1.5
    S = [torch.randn(ns, d, generator=gen, dtype=torch.float64) for d in dims]
    T = [torch.randn(nt, d, generator=gen, dtype=torch.float64) + 0.3 for d in dims]
    Z = [torch.cat([s, t]) for s, t in zip(S, T)]
    gbar = [torch.cdist(z, z).pow(2).mean() for z in Z]

    def K(i, j):
        out = 1.0
        for z, g, m in zip(Z, gbar, ms):
            D = float(((z[i] - z[j]) ** 2).sum())
            out *= sum(float(torch.exp(-D / (g * mul ** (u - m // 2)))) for u in range(m)) / m
        return out

    src, tgt = range(ns), range(ns, ns + nt)
    ss = sum(K(i, j) for i, j in itertools.permutations(src, 2)) / (ns * (ns - 1))
    tt = sum(K(i, j) for i, j in itertools.permutations(tgt, 2)) / (nt * (nt - 1))
    st = sum(K(i, j) for i in src for j in tgt) / (ns * nt)
    got = peers.joint_quadratic_mmd(S, T, kernel_nums=ms, kernel_mul=mul)
    assert abs(float(got) - (ss + tt - 2 * st)) < 1e-12
