"""The classical domain-adaptation methods as scikit-learn transformers, on any features.

TCA, JDA, BDA and TJM (MMD projections; kernels "primal", "linear", "rbf", Nystrom landmarks for large n),
SA and CORAL (map the source rows onto the target), GFK (the geodesic flow kernel). All take skada's
convention: ``fit(X, y=None, sample_domain=None)`` with sample_domain > 0 on source rows and < 0 on
target rows, target labels -1. In a Pipeline, route sample_domain with scikit-learn's metadata
routing (dan.classic._base) and train the classifier on source rows with SourceOnlyClassifier.
run_classic(method, (Xs, ys), (Xt, yt)) goes from features to a target-accuracy result dict.
"""
from dan.classic.bda import BDA
from dan.classic.coral import CORAL
from dan.classic.gfk import GFK
from dan.classic.jda import JDA
from dan.classic.sa import SA
from dan.classic.source_only import SourceOnlyClassifier
from dan.classic.run import run_classic
from dan.classic.tca import TCA
from dan.classic.tjm import TJM

__all__ = ["TCA", "JDA", "BDA", "TJM", "SA", "CORAL", "GFK", "SourceOnlyClassifier", "run_classic"]
