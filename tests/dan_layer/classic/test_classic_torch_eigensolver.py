"""device="cpu" (or "cuda" where one is) solves the classical methods' eigenproblem with torch,
through B's Cholesky factor (dan.classic._eigen): the same eigen-equation as the dense float64
statement, the same eigenpairs as scipy's gvx, and the same pseudo labels in JDA. No GPU here: the
CUDA path is the same code on another device and is exercised only where one is lent."""
import numpy as np
import pytest
import torch

from classic_helpers import check_eigen_equation, pencil, two_domains
from dan.classic import BDA, JDA, TCA, TJM


@pytest.mark.parametrize("kernel", ["primal", "linear", "rbf"])
def test_torch_solves_tcas_generalized_eigen_equation(kernel):
    x, y, sd, _ = two_domains()
    tca = TCA(n_components=3, kernel=kernel, mu=0.5, device="cpu").fit(x, sample_domain=sd)
    a, b = pencil(x, sd, 0.5, kernel)
    check_eigen_equation(tca.components_, tca.eigenvalues_, a, b)


@pytest.mark.parametrize("make", [
    lambda device: TCA(n_components=4, kernel="rbf", device=device),
    lambda device: TCA(n_components=4, kernel="rbf", n_landmarks=20, device=device),
    lambda device: JDA(n_components=4, kernel="linear", n_iter=3, device=device),
    lambda device: BDA(n_components=4, kernel="primal", n_iter=3, device=device),
    lambda device: TJM(n_components=4, kernel="rbf", n_iter=3, device=device),
], ids=["tca", "tca-nystrom", "jda", "bda", "tjm"])
def test_torch_and_scipy_give_the_same_eigenpairs(make):
    x, y, sd, _ = two_domains(seed=4)
    ref = make(None).fit(x, y, sample_domain=sd)
    got = make("cpu").fit(x, y, sample_domain=sd)
    np.testing.assert_allclose(got.eigenvalues_, ref.eigenvalues_, rtol=1e-8)
    # unit vectors with the same deterministic sign: equal up to rounding when the eigenvalues are apart
    np.testing.assert_allclose(got.components_, ref.components_, atol=1e-6)
    np.testing.assert_allclose(got.transform(x), ref.transform(x), atol=1e-6)
    if getattr(ref, "pseudo_labels_", None) is not None:
        np.testing.assert_array_equal(got.pseudo_labels_, ref.pseudo_labels_)


@pytest.mark.parametrize("device, match", [
    ("tpu", "device: expected None, 'cpu', 'cuda' or 'cuda:N', got 'tpu'"),
    (3.5, "device: expected None"),
    ("meta", "device: expected None"),
])
def test_a_bad_device_is_one_line_naming_it(device, match):
    x, y, sd, _ = two_domains()
    with pytest.raises(ValueError, match=match) as err:
        TCA(device=device).fit(x, sample_domain=sd)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_refused_before_any_work():
    x, y, sd, _ = two_domains()
    with pytest.raises(ValueError, match="device: 'cuda', but this torch .* sees no CUDA device"):
        JDA(device="cuda").fit(x, y, sample_domain=sd)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_gives_scipys_eigenpairs():
    x, y, sd, _ = two_domains(seed=4)
    ref = TCA(n_components=4, device=None).fit(x, sample_domain=sd)
    got = TCA(n_components=4, device="cuda").fit(x, sample_domain=sd)
    np.testing.assert_allclose(got.eigenvalues_, ref.eigenvalues_, rtol=1e-8)
    np.testing.assert_allclose(got.components_, ref.components_, atol=1e-6)
