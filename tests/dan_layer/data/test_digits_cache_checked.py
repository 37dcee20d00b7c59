"""The rendered digits cache (DIR/printed-*.npz, DIR/mnist-*.npz) lives in a folder that may be
shared (~/.cache/dan_ext by default), so a file there is used only when its arrays have the
domain's shapes, dtypes, label range and counts and match the digest stored with them; anything
else (a file rewritten with fewer rows, other labels, x and y of different lengths, a file without
a digest) is rebuilt and replaced, with one warning naming it. Tampered for real, on disk."""
import json

import numpy as np
import pytest
import torch

from cli_helpers import FAST, run_dan
from dan.data.domains import load_printed_domain


def _cache_file(folder):
    (path,) = folder.glob("printed-20-3-*.npz")
    return path


def _rewrite(path, **arrays):
    with open(path, "wb") as f:  # as another tool (or an older dan) would write it: no temporary file
        np.savez_compressed(f, **arrays)


@pytest.fixture
def cached(tmp_path):
    """(domain as built, its cache file, the file's bytes)."""
    domain = load_printed_domain(tmp_path, per_class=20, seed=3)
    path = _cache_file(tmp_path)
    return domain, path, path.read_bytes()


@pytest.mark.parametrize("change", ["50 rows", "all labels 3", "x and y of other lengths", "no digest",
                                    "pixels replaced, digest kept"])
def test_a_changed_cache_file_is_rebuilt_with_a_warning(tmp_path, cached, change):
    domain, path, original = cached
    with np.load(path) as z:
        x, y, arrays = z["x"], z["y"], {name: z[name] for name in z.files}
    if change == "50 rows":
        arrays.update(x=x[:50], y=y[:50])
    elif change == "all labels 3":
        arrays.update(y=np.full_like(y, 3))
    elif change == "x and y of other lengths":
        arrays.update(y=y[:150])
    elif change == "no digest":
        arrays = {"x": x, "y": y}
    else:
        arrays.update(x=np.flip(x, axis=0).copy())
    _rewrite(path, **arrays)
    with pytest.warns(RuntimeWarning, match=f"ignoring the cache file {path}: "):
        again = load_printed_domain(tmp_path, per_class=20, seed=3)
    assert torch.equal(again.x, domain.x) and torch.equal(again.y, domain.y)
    with np.load(path) as z:  # replaced by the rebuilt arrays
        assert np.array_equal(z["x"], x) and np.array_equal(z["y"], y)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


def test_an_intact_cache_file_is_used_without_a_warning(tmp_path, cached, recwarn):
    domain, path, original = cached
    again = load_printed_domain(tmp_path, per_class=20, seed=3)
    assert torch.equal(again.x, domain.x) and not [w for w in recwarn if "cache" in str(w.message)]
    assert path.read_bytes() == original


def test_dan_train_rebuilds_a_tampered_cache(tmp_path):
    """The issue's probe: the default printed cache cut to 50 rows, then dan train. It used to train
    on the 50 rows silently (source accuracy 1.0); now it warns in one line and trains on 2,000."""
    cache = tmp_path / "cache"
    first = run_dan(tmp_path, "train", *FAST, "--epochs", "1", "--cache-dir", cache, "--out", tmp_path / "a")
    assert first.returncode == 0, first.stderr
    (path,) = cache.glob("printed-200-0-*.npz")
    with np.load(path) as z:
        _rewrite(path, **{**{name: z[name] for name in z.files}, "x": z["x"][:50], "y": z["y"][:50]})
    second = run_dan(tmp_path, "train", *FAST, "--epochs", "1", "--cache-dir", cache, "--out", tmp_path / "b")
    assert second.returncode == 0, second.stderr
    assert f"dan: warning: ignoring the cache file {path}: its arrays are x float32 (50, 8, 8)" in second.stderr
    results = [json.loads((tmp_path / run / "result.json").read_text()) for run in ("a", "b")]
    assert results[0]["source_accuracy"] == results[1]["source_accuracy"]
    assert results[0]["target_accuracy"] == results[1]["target_accuracy"]


def test_a_cache_header_claiming_terabytes_is_not_read(tmp_path, cached):
    """x.npy's header rewritten to claim 1e11 rows (a zip of a few bytes): refused from the header,
    before numpy allocates 2.91 TiB, and rebuilt."""
    import zipfile

    domain, path, original = cached
    with np.load(path) as z:
        y, digest = z["y"], z["digest"]
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("x.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                     "shape": (10**11, 8, 8)})
        for name, arr in (("y.npy", y), ("digest.npy", digest)):
            with zf.open(name, "w") as f:
                np.lib.format.write_array(f, arr)
    with pytest.warns(RuntimeWarning, match=r"its arrays are x float32 \(100000000000, 8, 8\)"):
        again = load_printed_domain(tmp_path, per_class=20, seed=3)
    assert torch.equal(again.x, domain.x) and path.read_bytes() == original


def test_a_read_only_cache_folder_is_used_without_caching(tmp_path, read_only):
    """A shared cache that this user cannot write: the domain is built and used, with one warning."""
    with pytest.warns(RuntimeWarning, match=f"could not write the cache file {read_only}/printed-20-3-"):
        domain = load_printed_domain(read_only, per_class=20, seed=3)
    assert len(domain) == 200 and list(read_only.iterdir()) == []


@pytest.mark.parametrize("planted", ["fifo", "folder", "dangling link"])
def test_a_cache_name_that_is_not_a_file_does_not_block(tmp_path, planted):
    """A named pipe planted at the cache file's name in a shared cache used to block every run
    (a real child process, with a timeout); a folder there stopped it with a raw error."""
    import hashlib
    import os
    import subprocess
    import sys
    from pathlib import Path

    import dan.data.domains
    from cli_helpers import child_env

    tag = hashlib.sha1(Path(dan.data.domains.__file__).read_bytes()).hexdigest()[:10]  # the cache key's code hash
    path = tmp_path / f"printed-20-3-{tag}.npz"
    if planted == "fifo":
        os.mkfifo(path)
    elif planted == "folder":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "gone")
    code = ("import warnings; warnings.simplefilter('always'); from dan.data import load_printed_domain; "
            f"print(len(load_printed_domain({str(tmp_path)!r}, per_class=20, seed=3)))")
    r = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "200", r.stderr
    assert f"ignoring the cache file {path}: not a regular file; rebuilding it" in r.stderr
