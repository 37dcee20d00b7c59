"""DAN in a training loop of your own: a small CNN on scikit-learn's 8x8 digits, adapted to the same
digits drawn thicker and brighter, with dan.DANLoss on two layers and the paper's lambda ramp.

Nothing of dan's trainer is used: the loop, the optimiser and the schedule are yours; DANLoss keeps
the bandwidths and learns beta (re-solved every 10 steps). ``--small`` runs 12 steps (CI);
without it, 300.

    python docs/examples/custom_loop.py [--small]
"""
import argparse
import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import grey_dilation
from sklearn.datasets import load_digits
from torch import nn

from dan import DANLoss


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 64, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        h = self.body(x)
        logits = self.head(h)
        return logits, {"hidden": h, "logits": logits}


def domains():
    digits = load_digits()
    x = digits.images.astype(np.float32) / 16.0
    order = np.random.default_rng(0).permutation(len(x))
    src, tgt = order[: len(x) // 2], order[len(x) // 2:]
    shifted = np.clip(grey_dilation(x[tgt], size=(1, 2, 2)) * 1.3, 0, 1)  # thicker, brighter strokes
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).unsqueeze(1)  # noqa: E731
    return (as_tensor(x[src]), torch.from_numpy(digits.target[src])), (as_tensor(shifted), torch.from_numpy(digits.target[tgt]))


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="12 steps (a smoke test)")
    args = ap.parse_args(argv)
    steps, batch = (12, 32) if args.small else (300, 64)
    torch.manual_seed(0)
    (xs_all, ys_all), (xt_all, yt_all) = domains()
    net = Net()
    dan_loss = DANLoss(layers=("hidden", "logits"))  # 5 kernels per layer, learned beta
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(0)
    for step in range(1, steps + 1):
        i = torch.randint(len(xs_all), (batch,), generator=gen)
        j = torch.randint(len(xt_all), (batch,), generator=gen)
        net.train()
        dan_loss.train()
        _, feats = net(torch.cat([xs_all[i], xt_all[j]]))
        penalty = dan_loss({k: f[:batch] for k, f in feats.items()}, {k: f[batch:] for k, f in feats.items()})
        lam = 2 / (1 + math.exp(-10 * step / steps)) - 1  # the paper's ramp from 0 to 1
        loss = F.cross_entropy(feats["logits"][:batch], ys_all[i]) + lam * penalty
        opt.zero_grad()
        loss.backward()
        opt.step()
        dan_loss.step(step)
    net.eval()
    with torch.no_grad():
        accuracy = (net(xt_all)[0].argmax(1) == yt_all).float().mean().item()
    print(f"{steps} steps: target accuracy {accuracy:.3f}, penalty {penalty.item():.4f}, betas {dan_loss.betas}")
    return accuracy


if __name__ == "__main__":
    main()
