"""dan.classic against skada (the scikit-learn domain-adaptation library users run today) on the
same synthetic shift as benchmarks/classic_speed.py: time, peak numpy memory (tracemalloc) and the
1-NN target accuracy of the embedding, each estimator at its library's defaults with 30 components.

skada is not a dependency of this project; run this where it installs, with dan importable:

    python -m venv /tmp/venv-skada && /tmp/venv-skada/bin/pip install torch==2.13.0 skada==0.6.0
    PYTHONPATH=.:python /tmp/venv-skada/bin/python -m benchmarks.classic_vs_skada --sizes 1000,4000

What differs in the methods themselves (read from skada 0.6.0's source):
- skada's TCA builds the dense n x n kernel, L and H, forms A^-1 B with A = I + mu K L K and
  B = K H K, and passes that product to numpy.linalg.eigh, which reads only its lower triangle:
  A^-1 B is not symmetric, so the eigenvectors are those of a different (symmetrised) matrix. It
  keeps the largest |eigenvalues|. Its rbf kernel is scikit-learn's (gamma = 1 / n_features), not
  the mean squared distance. Memory: about eight n x n float64 matrices (n = 16,000: 16 GB).
- dan.classic's TCA solves the symmetric-definite pencil with eigh (dan.classic._eigen), with the
  exact dual up to 2,048 rows and 1,024 Nystrom landmarks above.
- SA and CORAL are d x d methods in both; they differ only in defaults (CORAL's regulariser).
"""
from __future__ import annotations

import argparse

import numpy as np

from benchmarks.classic_speed import make_data, measure, one_nn
from dan.classic import CORAL, SA, TCA

K_DIM = 30


def skada_runs():
    from skada import CORALAdapter, SubspaceAlignmentAdapter, TransferComponentAnalysisAdapter

    def tca(x, y, sd):
        est = TransferComponentAnalysisAdapter(n_components=K_DIM)
        z = est.fit_transform(x, y, sample_domain=sd)
        return est.eigvects_, one_nn(z, y, sd)

    def sa(x, y, sd):
        est = SubspaceAlignmentAdapter(n_components=K_DIM, random_state=0)
        z = est.fit_transform(x, y, sample_domain=sd)
        return None, one_nn(z, y, sd)

    def coral(x, y, sd):
        est = CORALAdapter()
        z = est.fit_transform(x, y, sample_domain=sd)
        return None, one_nn(z, y, sd)
    return {"TCA": tca, "SA": sa, "CORAL": coral}


def our_runs():
    def tca(x, y, sd):
        est = TCA(n_components=K_DIM)
        z = est.fit_transform(x, np.where(sd > 0, y, -1), sample_domain=sd)
        return est.components_, one_nn(z, y, sd)

    def sa(x, y, sd):
        z = SA(n_components=K_DIM).fit_transform(x, np.where(sd > 0, y, -1), sample_domain=sd)
        return None, one_nn(z, y, sd)

    def coral(x, y, sd):
        z = CORAL().fit_transform(x, np.where(sd > 0, y, -1), sample_domain=sd)
        return None, one_nn(z, y, sd)
    return {"TCA": tca, "SA": sa, "CORAL": coral}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,4000", help="rows n (half source, half target), comma-separated")
    ap.add_argument("--skada-sizes", default="1000,4000", help="the sizes skada is run at (dense n x n)")
    ap.add_argument("--d", type=int, default=256, help="feature width")
    args = ap.parse_args(argv)
    ours, theirs = our_runs(), skada_runs()
    print("| method | library | n | seconds | peak MB | target acc |")
    print("|---|---|---|---|---|---|")
    for n in [int(v) for v in args.sizes.split(",")]:
        x, y, sd = make_data(n, args.d)
        for method in ours:
            runs = [("dan.classic", ours[method])]
            if n in [int(v) for v in args.skada_sizes.split(",")]:
                runs.append(("skada 0.6.0", theirs[method]))
            for lib, fn in runs:
                _, acc, seconds, peak = measure(fn, x, y, sd)
                print(f"| {method} | {lib} | {n} | {seconds:.2f} | {peak:.0f} | {100 * acc:.1f} |", flush=True)


if __name__ == "__main__":
    main()
