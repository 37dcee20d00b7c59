"""dan test's .npy files are checked from their header before any data is read: a dtype that is
not real numbers (complex lost its imaginary part silently; text, dates) and a header whose shape
does not fit the file (truncated, or crafted to claim 1e11 rows: "Unable to allocate 2.91 TiB") or
memory are refused in one line naming the file. Real files, written as np.save writes them."""
import numpy as np
import pytest

from cli_helpers import run_dan
from dan.commands.cli import main as dan_main


def _one_line(capsys, rc):
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "Traceback" not in err, err
    return err


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.npy"
    np.save(path, np.random.default_rng(0).normal(size=(100, 4)))
    return path


def _header_only(path, shape, dtype="<f8", data=b""):
    """An .npy file whose version 1.0 header declares SHAPE, followed by DATA."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": dtype, "fortran_order": False, "shape": shape})
        f.write(data)


@pytest.mark.parametrize("dtype, what", [("complex128", "complex"), ("complex64", "complex"),
                                         ("<U3", "text"), ("S2", "bytes"), ("m8[s]", "time spans"),
                                         ("M8[D]", "dates")])
def test_non_real_dtypes_are_refused(tmp_path, capsys, good, dtype, what):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((100, 4)).astype(dtype))
    err = _one_line(capsys, dan_main(["test", str(good), str(bad)]))
    assert f"{bad} holds dtype {np.dtype(dtype)} ({what}); dan test takes real numbers" in err


def test_real_dtypes_are_read(tmp_path, capsys, good):
    rng = np.random.default_rng(1)
    for dtype in ("float16", "float32", ">f8", "int8", "uint16", "int64", "bool"):
        other = tmp_path / f"{dtype}.npy".replace(">", "be")
        np.save(other, (rng.normal(size=(100, 4)) * 3).astype(dtype))
        assert dan_main(["test", str(good), str(other)]) == 0, capsys.readouterr().err


def test_a_header_claiming_1e11_rows_is_refused_without_allocating(tmp_path):
    """The issue's probe, in a real child process: the header says (1e11, 4) float64 (2.91 TiB)."""
    bad = tmp_path / "huge.npy"
    _header_only(bad, (10**11, 4), data=b"\0" * 64)
    r = run_dan(tmp_path, "test", bad, bad)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert (f"{bad} is truncated or its header is wrong: shape (100000000000, 4) of float64 needs 3200000000000 "
            "bytes of data, the file holds 64") in r.stderr
    assert "allocate" not in r.stderr


def test_a_truncated_file_is_refused(tmp_path, capsys, good):
    bad = tmp_path / "cut.npy"
    np.save(bad, np.ones((100, 4)))
    data = bad.read_bytes()
    bad.write_bytes(data[:-8])  # the last value cut off
    err = _one_line(capsys, dan_main(["test", str(good), str(bad)]))
    assert f"{bad} is truncated or its header is wrong" in err and "needs 3200 bytes of data, the file holds 3192" in err


def test_a_file_larger_than_memory_is_refused_from_its_header(tmp_path):
    """A sparse file of the size its header claims (twice this machine's memory as float64): the file
    size check passes, the memory bound refuses it before any data is read."""
    from dan.data.feature_files import memory_bound

    rows = 2 * memory_bound() // 32 + 1
    bad = tmp_path / "large.npy"
    _header_only(bad, (rows, 4))
    with open(bad, "r+b") as f:
        f.truncate(bad.stat().st_size + 32 * rows)  # a hole: no disk used
    r = run_dan(tmp_path, "test", bad, bad)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"{bad}: shape ({rows}, 4) of float64 needs" in r.stderr and "more than dan test allows" in r.stderr


def test_a_file_that_is_not_npy_is_named(tmp_path, capsys, good):
    bad = tmp_path / "notes.npy"
    bad.write_text("just text\n")
    err = _one_line(capsys, dan_main(["test", str(good), str(bad)]))
    assert f"cannot read {bad}:" in err


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_file_that_is_not_regular_is_refused_without_blocking(tmp_path, kind):
    """A named pipe used to block dan test until a writer came (a real child process, with a timeout)."""
    import os

    path = tmp_path / "x.npy"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = "/dev/zero"
    else:
        path.mkdir()
    r = run_dan(tmp_path, "test", path, path, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"{path} is not a regular file (a folder, pipe or device)" in r.stderr
