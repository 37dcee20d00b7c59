"""dan.classic builds width x width matrices (the exact kernel dual: width = rows; the primal map,
CORAL's covariances and GFK's kernel: width = features). A width whose matrix passes 1 GiB is refused
in one line naming X (or n_landmarks) with what it would need, before anything that size is made;
numpy used to stop with the allocator's raw "Unable to allocate ... GiB" (or take the machine's memory)."""
import numpy as np
import pytest

from dan.classic import BDA, CORAL, GFK, JDA, TCA, TJM

TOO_WIDE = 200_000  # 8 * 200000**2 bytes = 298 GiB per matrix
ALLOWED = 11585  # isqrt(1 GiB / 8 bytes): the documented bound


def _domains(rows, features):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features))
    half = rows // 2
    y = np.r_[np.arange(half) % 2, -np.ones(rows - half, dtype=int)]
    sd = np.r_[np.ones(half), -np.ones(rows - half)]
    return x, y, sd


def _refused(call, first):
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(first), msg
    assert "298.0 GiB" in msg and f"width at most {ALLOWED}" in msg, msg
    return msg


@pytest.mark.parametrize("make", [lambda: TCA(n_landmarks=None), lambda: JDA(n_landmarks=None, n_iter=1),
                                  lambda: BDA(n_landmarks=None, n_iter=1), lambda: TJM(n_iter=1)],
                         ids=["TCA", "JDA", "BDA", "TJM"])
def test_exact_kernel_dual_of_too_many_rows(make):
    x, y, sd = _domains(TOO_WIDE, 1)
    msg = _refused(lambda: make().fit(x, y, sample_domain=sd), "X: the exact kernel='rbf' dual of 200000 fitted rows")
    assert "n_landmarks" in msg


def test_too_many_landmarks():
    x, y, sd = _domains(TOO_WIDE + 2, 1)
    _refused(lambda: TCA(n_landmarks=TOO_WIDE).fit(x, y, sample_domain=sd), "n_landmarks: 200000 landmarks")


@pytest.mark.parametrize("make, first", [(lambda: TCA(kernel="primal"), "X: kernel='primal' on 200000 features"),
                                         (CORAL, "X: CORAL on 200000 features"),
                                         (GFK, "X: GFK on 200000 features")], ids=["TCA-primal", "CORAL", "GFK"])
def test_too_many_features(make, first):
    x, y, sd = _domains(6, TOO_WIDE)
    _refused(lambda: make().fit(x, y, sample_domain=sd), first)


def test_widths_within_the_bound_are_still_fitted():
    x, y, sd = _domains(8, 512)
    assert CORAL().fit_transform(x, y, sample_domain=sd).shape == (8, 512)
    x, y, sd = _domains(3000, 2)  # above "auto"'s exact limit: landmarks, no refusal
    assert TCA(n_components=2).fit_transform(x, y, sample_domain=sd).shape == (3000, 2)
