"""The generalized symmetric-definite eigenproblem behind TCA, JDA and BDA.

The published scripts keep the smallest eigenvalues of the pencil (K M K + lam I, K H K) with the
general ``scipy.linalg.eig``: K H K is singular (H centres, so rank <= n - 1), the product
inv(K H K) (K M K + lam I) is not symmetric, eig returns complex pairs and infinite eigenvalues, and
which vectors come out depends on rounding. The same subspace is the k LARGEST eigenvalues of the
swapped pencil (A, B) = (K H K, K M K + lam I): A is symmetric positive semi-definite and B symmetric
positive definite (lam > 0), so ``scipy.linalg.eigh`` solves it stably and for only the k pairs asked
for. Where eig's answer is accurate the two give the same span. Where they differ, it is eig's
handling of the singular K H K: the infinite eigenvalue of the published pencil (the constant
direction H removes) comes out as a huge finite number of either sign, and when it is negative it
sorts first, so the published scripts keep that meaningless direction and lose their k-th real one
(benchmarks/classic_speed.py: 29 of 30 directions agree to 1e-4, the other eigenvalues to all
printed digits).

With a torch ``device`` (the estimators' ``device`` parameter: "cuda" where the GPU is) the same
problem is solved by torch in float64 on that device, through B's Cholesky factor L: the k largest
eigenpairs of the symmetric L^-1 A L^-T, mapped back by L^-T. scipy's gvx computes only the k pairs
asked for; torch.linalg.eigh computes all p of them, which a GPU does faster than a CPU does k.
"""
import numpy as np
import scipy.linalg

from dan.classic._validation import Device

# Added to B's diagonal, relative to B's mean diagonal (A's when B is 0): keeps B definite when the
# regulariser is 0, and moves the answer by about this relative amount.
RIDGE = 1e-10


def top_eigenvectors(a: np.ndarray, b: np.ndarray, k: int, what: str, device: Device = None) -> tuple:
    """(values, vectors): the K largest eigenpairs of A w = lambda B w, float64, vectors of unit
    length with their largest entry positive (a deterministic sign), largest first. B is
    overwritten (the caller builds it for this call); A is not. DEVICE: None solves with scipy, a
    torch device (checked by _validation.check_device) with torch there."""
    a = (a + a.T) / 2.0            # a private copy: A is reused across JDA's solves
    b += b.T                       # B is built for this solve: symmetrised and ridged in place
    b *= 0.5
    p = a.shape[0]
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"X: {what}'s eigenproblem overflowed (features too large); scale X down")
    scale = np.trace(b) / p if np.trace(b) > 0 else max(np.trace(a) / p, np.finfo(np.float64).tiny)
    b[np.diag_indices(p)] += RIDGE * scale
    if device is None:
        try:
            values, vectors = scipy.linalg.eigh(a, b, subset_by_index=[p - k, p - 1], driver="gvx",
                                                overwrite_a=True, overwrite_b=True)
        except (np.linalg.LinAlgError, ValueError) as err:
            raise _singular(what, err) from None
    else:
        values, vectors = _torch_top(a, b, k, what, device)
    values, vectors = values[::-1], vectors[:, ::-1]
    vectors = vectors / np.linalg.norm(vectors, axis=0, keepdims=True)
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(k)])
    return values, vectors * signs


def _singular(what: str, err: Exception) -> ValueError:
    return ValueError(f"{what}: the constraint matrix is singular even after the ridge "
                      f"({str(err).splitlines()[0]}); raise the regulariser")


def _torch_top(a: np.ndarray, b: np.ndarray, k: int, what: str, device) -> tuple:
    """The K largest eigenpairs, ascending as scipy returns them, solved by torch on DEVICE."""
    import torch  # only here: the scipy path does not need it

    a_t = torch.as_tensor(a, dtype=torch.float64, device=device)
    b_t = torch.as_tensor(b, dtype=torch.float64, device=device)
    factor, info = torch.linalg.cholesky_ex(b_t)
    if int(info) != 0:
        raise _singular(what, RuntimeError(f"B is not positive definite (leading minor {int(info)})"))
    c = torch.linalg.solve_triangular(factor, a_t, upper=False)          # L^-1 A
    c = torch.linalg.solve_triangular(factor, c.T, upper=False)          # L^-1 A L^-T (A symmetric)
    values, vectors = torch.linalg.eigh((c + c.T) / 2)                   # ascending
    values, vectors = values[-k:], vectors[:, -k:]
    vectors = torch.linalg.solve_triangular(factor.T, vectors, upper=True)  # w = L^-T v
    return values.cpu().numpy(), vectors.cpu().numpy()
