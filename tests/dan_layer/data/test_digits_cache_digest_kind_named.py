"""A digits cache file whose x and y are right but whose digest is not a SHA-256 hex string (bytes,
a number, an array) was rebuilt with a warning that contradicted itself: "its arrays are x float32
(40, 8, 8) and y int64 (40,), not x float32 (40, 8, 8) and y int64 (40,) (or its digest is not
one)". The warning names the digest's dtype and shape too. Tampered for real, on disk."""
import numpy as np
import pytest
import torch

from dan.data.domains import load_printed_domain


@pytest.mark.parametrize("digest, shown", [(np.array(b"abc"), "digest |S3 ()"), (np.arange(3), "digest int64 (3,)")])
def test_a_digest_of_the_wrong_kind_is_named(tmp_path, digest, shown):
    domain = load_printed_domain(tmp_path, per_class=4, seed=3)
    (path,) = tmp_path.glob("printed-4-3-*.npz")
    with np.load(path) as z:
        x, y = z["x"], z["y"]
    with open(path, "wb") as f:
        np.savez_compressed(f, x=x, y=y, digest=digest)
    with pytest.warns(RuntimeWarning) as record:
        again = load_printed_domain(tmp_path, per_class=4, seed=3)
    (message,) = [str(w.message) for w in record if "ignoring the cache file" in str(w.message)]
    assert message == (f"ignoring the cache file {path}: its arrays are x float32 (40, 8, 8), y int64 (40,) and "
                       f"{shown}, not x float32 (40, 8, 8), y int64 (40,) and digest <U64 (); rebuilding it")
    assert torch.equal(again.x, domain.x)
