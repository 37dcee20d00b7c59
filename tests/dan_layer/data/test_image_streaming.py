"""Image folders stream from disk: peak memory does not grow with the number of images.

A child process iterates a whole folder through the DataLoader at the default 224 x 224 crops,
once for 300 images and once for 3,000. Decoding every image into memory first (what dan_ext
0.1 did) would need 3,000 x 3 x 224 x 224 x 4 bytes = 1.8 GB for the larger folder; streaming
must stay within a few tens of MB of the small one, in the main process and in the workers."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

CHILD = textwrap.dedent('''
    import resource, sys
    from dan.data import load_domain
    domain = load_domain("folder:" + sys.argv[1], workers=int(sys.argv[2]))
    seen = sum(len(b.index) for b in domain.eval_batches())
    kb = lambda who: resource.getrusage(who).ru_maxrss
    print(seen, kb(resource.RUSAGE_SELF), kb(resource.RUSAGE_CHILDREN))
''')


def _folder(root, n):
    from PIL import Image

    rng = np.random.default_rng(n)
    tile = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    for c in range(10):
        (root / f"c{c}").mkdir(parents=True)
    for k in range(n):
        Image.fromarray(np.roll(tile, k, axis=1)).save(root / f"c{k % 10}" / f"{k}.png", compress_level=1)
    return root


def _peak(tmp_path, folder, workers):
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(workers)], cwd=tmp_path, check=True,
                         capture_output=True, text=True, timeout=600).stdout.split()
    seen, main_kb, child_kb = map(int, out)
    return seen, main_kb / 1024, child_kb / 1024


@pytest.mark.parametrize("workers", [0, 2])
def test_peak_memory_does_not_grow_with_the_number_of_images(tmp_path, workers):
    small, big = _folder(tmp_path / "small", 300), _folder(tmp_path / "big", 3000)
    n_small, main_small, child_small = _peak(tmp_path, small, workers)
    n_big, main_big, child_big = _peak(tmp_path, big, workers)
    assert (n_small, n_big) == (300, 3000)
    assert main_big - main_small < 40, (main_small, main_big)
    if workers:
        assert child_big - child_small < 40, (child_small, child_big)
