"""DAN on offline digits: printed (rendered fonts) -> handwritten (scikit-learn's optdigits).

What ``dan train`` does, from Python: one TrainConfig, one call, a result dict (and the run folder
with its checkpoint, logs and result.json). ``--small`` trains 1 epoch of 3 steps (CI runs that);
without it, the 30 epochs below take about a minute on 2 CPU cores.

    python docs/examples/digits_dan.py [--small] [--out runs/example_digits]
"""
import argparse

from dan.config import TrainConfig
from dan.trainer import train


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="1 epoch of 3 steps (a smoke test)")
    ap.add_argument("--out", default="runs/example_digits", help="the run folder (replaced if it holds a run)")
    args = ap.parse_args(argv)
    size = dict(epochs=1, iters_per_epoch=3) if args.small else dict(epochs=30)
    cfg = TrainConfig(source="printed", target="digits", method="dan", seed=0, out=args.out, **size)
    result = train(cfg, overwrite=True, progress=not args.small)
    print(f"DAN printed -> digits: target accuracy {result['target_accuracy']:.3f}, "
          f"source accuracy {result['source_accuracy']:.3f}, betas {result['betas']}")
    return result


if __name__ == "__main__":
    main()
