"""Small synthetic domains for fast DAN-layer tests (the real ones are exercised by the CLI test)."""
import torch

from dan.data import Domain


def toy_domains(n=96, seed=0, shift=0.3):
    """Two 10-class 8x8 domains: class templates plus noise; the target is shifted and rescaled."""
    gen = torch.Generator().manual_seed(seed)
    templates = torch.rand(10, 1, 8, 8, generator=gen)
    def make(k, s, scale):
        y = torch.arange(k) % 10
        x = templates[y] * scale + s + 0.15 * torch.randn(k, 1, 8, 8, generator=gen)
        return Domain("toy", x.clamp(0, 1.5), y, [str(i) for i in range(10)])
    return make(n, 0.0, 1.0), make(n, shift, 0.7)
