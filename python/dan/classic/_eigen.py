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
"""
import numpy as np
import scipy.linalg

# Added to B's diagonal, relative to B's mean diagonal (A's when B is 0): keeps B definite when the
# regulariser is 0, and moves the answer by about this relative amount.
RIDGE = 1e-10


def top_eigenvectors(a: np.ndarray, b: np.ndarray, k: int, what: str) -> tuple:
    """(values, vectors): the K largest eigenpairs of A w = lambda B w, float64, vectors of unit
    length with their largest entry positive (a deterministic sign), largest first. B is
    overwritten (the caller builds it for this call); A is not."""
    a = (a + a.T) / 2.0            # a private copy: A is reused across JDA's solves
    b += b.T                       # B is built for this solve: symmetrised and ridged in place
    b *= 0.5
    p = a.shape[0]
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"X: {what}'s eigenproblem overflowed (features too large); scale X down")
    scale = np.trace(b) / p if np.trace(b) > 0 else max(np.trace(a) / p, np.finfo(np.float64).tiny)
    b[np.diag_indices(p)] += RIDGE * scale
    try:
        values, vectors = scipy.linalg.eigh(a, b, subset_by_index=[p - k, p - 1], driver="gvx",
                                            overwrite_a=True, overwrite_b=True)
    except (np.linalg.LinAlgError, ValueError) as err:
        raise ValueError(f"{what}: the constraint matrix is singular even after the ridge "
                         f"({str(err).splitlines()[0]}); raise the regulariser") from None
    values, vectors = values[::-1], vectors[:, ::-1]
    vectors = vectors / np.linalg.norm(vectors, axis=0, keepdims=True)
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(k)])
    return values, vectors * signs
