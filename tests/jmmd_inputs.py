"""Inputs for the joint-MMD tests (tests/ext/joint):
L layers of source and target features with the same rows."""
import torch

from conftest import make_pair


def make_layers(ns, nt, dims, dtype=torch.float64, device="cpu", gen=None, shift=0.5, scale=1.0):
    """(sources, targets): one [ns, d] and one [nt, d] tensor per d in ``dims``; the last of several
    layers is a softmax, as JAN's logits layer."""
    sources, targets = [], []
    for l, d in enumerate(dims):
        xs, xt = make_pair(ns, nt, d, torch.float64, "cpu", shift=shift, scale=scale, gen=gen)
        if l == len(dims) - 1 and len(dims) > 1:
            xs, xt = xs.softmax(dim=1) * d, xt.softmax(dim=1) * d  # scaled so the distances are O(1)
        sources.append(xs.to(device=device, dtype=dtype))
        targets.append(xt.to(device=device, dtype=dtype))
    return sources, targets


def kernel_args(sources, ms, mode, gen, scale=1.0):
    """(bandwidths, betas) for layers with ms kernels: bandwidths 'derived' (None), 'explicit' (around
    each layer's mean squared distance) or 'mixed' (explicit for the even layers); non-uniform betas."""
    bandwidths, betas = [], []
    for l, (x, m) in enumerate(zip(sources, ms)):
        d = x.shape[1]
        explicit = mode == "explicit" or (mode == "mixed" and l % 2 == 0)
        bandwidths.append((2.0 * d * scale * scale) * 2.0 ** torch.linspace(-2, 2, m, dtype=torch.float64)
                          if explicit else None)
        b = torch.rand(m, generator=gen, dtype=torch.float64) + 0.05
        betas.append(b / b.sum() * (0.5 + l))  # weights need not sum to 1
    return (None if mode == "derived" else bandwidths), betas


def requiring_grad(tensors):
    return [x.detach().requires_grad_(True) for x in tensors]


def as_reference_inputs(tensors):
    """float64, contiguous, fresh leaves: what the reference runs on."""
    return [x.detach().double().contiguous().requires_grad_(True) for x in tensors]
