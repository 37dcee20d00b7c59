"""Independent checks of what the statistic estimates, not of how the kernels compute it."""
import math

import torch

import dan_ext


def _draws(shift, reps=400, n=64, d=4, seed=0, bandwidths=(2.0, 8.0, 32.0)):
    gen = torch.Generator().manual_seed(seed)
    vals = []
    for _ in range(reps):
        xs = torch.randn(n, d, generator=gen, dtype=torch.float64)
        xt = torch.randn(n, d, generator=gen, dtype=torch.float64) + shift
        vals.append(dan_ext.mkmmd_linear(xs, xt, list(bandwidths)).item())
    return torch.tensor(vals, dtype=torch.float64)


def _exact_mmd2(shift, d, gammas, betas):
    """Population MMD^2 of N(0, I) vs N(shift, I) under Gaussian kernels exp(-|x-y|^2/gamma):
    E k(x, x') = (gamma / (gamma + 4))^(d/2), E k(x, y) = that times exp(-|mu|^2 / (gamma + 4))."""
    total = 0.0
    for g, b in zip(gammas, betas):
        base = (g / (g + 4.0)) ** (d / 2)
        total += b * 2.0 * base * (1.0 - math.exp(-(shift ** 2) * d / (g + 4.0)))
    return total


def test_null_mean_is_zero():
    v = _draws(0.0)
    se = v.std() / math.sqrt(len(v))
    assert abs(v.mean().item()) < 4 * se.item()
    assert (v < 0).any(), "an unbiased estimate must be negative on some batches under the null"


def test_mean_matches_population_mmd_and_grows_with_shift():
    bws = (2.0, 8.0, 32.0)
    means = []
    for shift in (0.25, 0.5, 1.0):
        v = _draws(shift, bandwidths=bws, seed=int(shift * 100))
        exact = _exact_mmd2(shift, 4, bws, [1 / 3] * 3)
        se = (v.std() / math.sqrt(len(v))).item()
        assert abs(v.mean().item() - exact) < 4 * se, (shift, v.mean().item(), exact, se)
        means.append(v.mean().item())
    assert 0 < means[0] < means[1] < means[2]


def test_covariance_estimates_variance_of_the_tuple_terms():
    """E[Q] = 2 Cov[g]: beta^T Q beta / (2P) should match the spread of the estimate over draws."""
    gen = torch.Generator().manual_seed(7)
    est, var_hat = [], []
    for _ in range(300):
        xs = torch.randn(128, 3, generator=gen, dtype=torch.float64)
        xt = torch.randn(128, 3, generator=gen, dtype=torch.float64) + 0.4
        st = dan_ext.mkmmd_linear_stats(xs, xt, [1.0, 4.0, 16.0])
        b = torch.full((3,), 1 / 3, dtype=torch.float64)
        est.append(st.loss.item())
        var_hat.append((b @ st.covariance @ b).item() / (2 * st.num_tuples))
    empirical = torch.tensor(est).var().item()
    predicted = sum(var_hat) / len(var_hat)
    assert 0.75 < predicted / empirical < 1.33, (predicted, empirical)
