"""Decoding hostile and unusual image files (issue 17), with real files written by PIL: 16-bit and
32-bit greyscale keep their grey levels, the EXIF orientation is applied, and images whose size
would cost gigabytes are skipped before they are decoded. Everything goes through the dataset's
own path (load_domain + the domain's eval_batches, as dan train's evaluation and dan predict read
images)."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image, ImageOps

from dan import transforms
from dan.data import load_domain


def _decoded(folder, image_size=None):
    """{file name: [H, W, 3] pixel values 0..255 as the network sees them, un-normalised} and the
    names of the files skipped, read as dan train's evaluation reads a folder."""
    domain = load_domain(f"folder:{folder}", image_size=image_size, workers=0)
    names = [p.name for p in domain.images.paths]
    seen, skipped = {}, []
    for b in domain.eval_batches():
        skipped += [names[i] for i in b.failed]
        for row, i in enumerate(b.index.tolist()):
            pixels = b.x[row].numpy().transpose(1, 2, 0) * transforms.STD + transforms.MEAN
            seen[names[i]] = pixels * 255
    return seen, skipped


def _grey(folder, name, array, **save):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(folder / name, **save)
    return folder / name


def test_16_bit_greyscale_png_keeps_its_grey_levels(tmp_path):
    ramp = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 65535 // (48 * 64 - 1)).astype(np.uint16)
    path = _grey(tmp_path / "u", "ramp.png", ramp)
    _grey(tmp_path / "u", "mid.png", np.full((40, 40), 0x8000, np.uint16))
    seen, skipped = _decoded(tmp_path / "u")
    assert skipped == []
    # 32768 / 65535 is mid grey: 128, not 255 (PIL's convert("RGB") clips to white)
    np.testing.assert_allclose(seen["mid.png"], 128, atol=0.01)
    assert abs(seen["ramp.png"].mean() - 127.5) < 3  # a ramp from black to white, not 99.75% white
    with Image.open(path) as im:
        assert im.mode in ("I;16", "I")  # what Pillow makes of a 16-bit greyscale PNG
        rgb = np.asarray(transforms.decode_rgb(im))
    # torchvision's uint16 -> uint8 (to_dtype(scale=True)): the top 8 bits, in all three channels
    assert rgb.shape == (48, 64, 3) and (rgb == (ramp >> 8)[..., None]).all()


def test_deep_greyscale_tiffs_are_scaled_by_their_bit_depth(tmp_path):
    folder = tmp_path / "t"
    _grey(folder, "u16.tif", np.full((30, 30), 0x8000, np.uint16))             # mode I;16
    _grey(folder, "i32.tif", np.full((30, 30), 2 ** 30, np.int32))             # mode I, 32-bit: >> 23
    _grey(folder, "f32.tif", np.full((30, 30), 0.25, np.float32))              # mode F, taken as 0..1
    seen, skipped = _decoded(folder)
    assert skipped == []
    np.testing.assert_allclose(seen["u16.tif"], 128, atol=0.01)
    np.testing.assert_allclose(seen["i32.tif"], 128, atol=0.01)
    np.testing.assert_allclose(seen["f32.tif"], 63, atol=0.01)  # 0.25 * 255.999 truncated, as torchvision
    # out of range: negative integers are black; floats are clipped to 0..1 and NaN is black
    ints = _grey(folder, "neg.tif", np.array([[-5, 2 ** 31 - 1, 2 ** 23, 0]], np.int32))
    floats = _grey(folder, "odd.tif", np.array([[2.0, -1.0, np.nan, 1.0]], np.float32))
    with Image.open(ints) as a, Image.open(floats) as b:
        assert (a.mode, b.mode) == ("I", "F")
        assert np.asarray(transforms.decode_rgb(a))[0, :, 0].tolist() == [0, 255, 1, 0]
        assert np.asarray(transforms.decode_rgb(b))[0, :, 0].tolist() == [255, 0, 0, 255]


def _int16_tiff(path, array, orientation=1):
    """A signed 16-bit greyscale TIFF written by hand (PIL writes int16 arrays as 32-bit): Pillow
    reads it as mode "I", so only the file's BitsPerSample and SampleFormat tell its depth."""
    import struct

    h, w = array.shape
    tags = [(256, w), (257, h), (258, 16), (259, 1), (262, 1), (273, 0), (274, orientation), (277, 1), (278, h),
            (279, 2 * w * h), (339, 2)]  # 273 (StripOffsets) is set below, 339 = 2: signed integers
    data_at = 8 + 2 + 12 * len(tags) + 4
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII", tag, 4 if tag in (273, 279) else 3, 1, data_at if tag == 273 else value)
        for tag, value in tags) + struct.pack("<I", 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + array.astype("<i2").tobytes())
    return path


def test_a_tiff_is_scaled_by_the_depth_it_declares_even_when_turned(tmp_path):
    arr = np.full((10, 30), 2 ** 14, np.int16)
    arr[:, :3] = -100  # negative: black
    for orientation in (1, 6):
        path = _int16_tiff(tmp_path / "s" / f"o{orientation}.tif", arr, orientation)
        with Image.open(path) as im:
            assert im.mode == "I"
            if orientation == 1:
                assert np.asarray(im).tolist() == arr.tolist()
            rgb = np.asarray(transforms.decode_rgb(im))
        # 15 value bits: 2^14 >> 7 = 128 (mid grey), not >> 23 as a 32-bit "I" image would be
        assert rgb.shape == ((10, 30, 3) if orientation == 1 else (30, 10, 3))
        turned = rgb if orientation == 1 else np.rot90(rgb, 1)  # undo the quarter turn to compare
        assert (turned[:, 3:] == 128).all() and (turned[:, :3] == 0).all(), orientation


def test_ordinary_images_decode_as_before(tmp_path):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    for mode in ("RGB", "L", "P", "RGBA", "1", "CMYK"):
        path = tmp_path / f"x_{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
        rgb.convert(mode).save(path)
        with Image.open(path) as a, Image.open(path) as b:
            assert np.array_equal(np.asarray(transforms.decode_rgb(a)), np.asarray(b.convert("RGB"))), mode


def _sideways_jpeg(path, orientation):
    """A 40 x 20 JPEG, left half red and right half blue, whose EXIF says how to turn it."""
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20, 0] = 255
    arr[:, 20:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation  # the Orientation tag
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=95, exif=exif)
    return path


def test_the_exif_orientation_is_applied(tmp_path):
    _sideways_jpeg(tmp_path / "p" / "phone.jpg", 6)  # 6: turn 90 degrees clockwise to view
    # through the dataset (fixed 16 x 16): the red half is on top, the blue half below
    seen, _ = _decoded(tmp_path / "p", image_size=16)
    x = seen["phone.jpg"]
    top, bottom, left, right = x[:6].mean((0, 1)), x[-6:].mean((0, 1)), x[:, :6].mean((0, 1)), x[:, -6:].mean((0, 1))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60, (top, bottom)
    assert abs(left - right).max() < 30, (left, right)  # not left red / right blue as stored
    with Image.open(tmp_path / "p" / "phone.jpg") as im:
        assert transforms.decode_rgb(im).size == (20, 40)  # upright: 20 wide, 40 high
    # all eight orientations as Pillow's exif_transpose turns them
    for k in range(1, 9):
        other = _sideways_jpeg(tmp_path / "all" / f"o{k}.jpg", k)
        with Image.open(other) as a, Image.open(other) as b:
            assert np.array_equal(np.asarray(transforms.decode_rgb(a)),
                                  np.asarray(ImageOps.exif_transpose(b).convert("RGB"))), k


def test_the_size_limits_refuse_with_one_line():
    transforms.check_size(1, transforms.MAX_ASPECT)       # at the limits: fine
    transforms.check_size(transforms.MAX_ASPECT, 1)
    transforms.check_size(5000, 10000)
    with pytest.raises(ValueError, match=r"^image of 1 x 3000 pixels: its aspect ratio is beyond the 1:50 allowed"):
        transforms.check_size(1, 3000)
    with pytest.raises(ValueError, match=r"aspect ratio is beyond"):
        transforms.check_size(transforms.MAX_ASPECT + 1, 1)
    with pytest.raises(ValueError, match=r"^image of 9000 x 9000 pixels: more than the 50,000,000 pixels allowed"):
        transforms.check_size(9000, 9000)
    # the transforms refuse too, before resizing (eval would make 256 x 768,000 pixels of this one)
    with pytest.raises(ValueError, match="aspect ratio"):
        transforms.apply(Image.new("RGB", (1, 3000)), "eval", 224)


CHILD = textwrap.dedent('''
    import json, resource, sys
    from dan.data import load_domain
    domain = load_domain("folder:" + sys.argv[1], workers=int(sys.argv[2]))
    names = [p.name for p in domain.images.paths]
    first = list(domain.eval_batches([names.index("ok.png")]))  # imports and buffers warm
    peak = lambda: max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    before = peak()
    seen, skipped = [], []
    for b in domain.eval_batches():
        seen += [names[i] for i in b.index.tolist()]
        skipped += [names[i] for i in b.failed]
    print(json.dumps({"seen": sorted(seen), "skipped": sorted(skipped), "grew_mb": (peak() - before) / 1024}))
''')


@pytest.mark.parametrize("workers", [0, 2])
def test_images_too_large_or_too_thin_are_skipped_before_they_cost_memory(tmp_path, workers):
    folder = tmp_path / "hostile"
    folder.mkdir()
    Image.new("RGB", (40, 30), (90, 120, 150)).save(folder / "ok.png")
    Image.new("L", (1, 3000), 200).save(folder / "tall.png")    # ~100 bytes; eval made it 256 x 768,000
    Image.new("L", (3000, 1), 200).save(folder / "wide.png")
    Image.new("L", (1, 50), 200).save(folder / "thin_but_fine.png")  # 1:50, transforms.MAX_ASPECT
    Image.new("1", (9000, 9000)).save(folder / "huge.png")      # 81 M pixels: Pillow's bomb guard lets it by
    assert (folder / "tall.png").stat().st_size < 200 and (folder / "huge.png").stat().st_size < 100_000
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(workers)], cwd=tmp_path, check=True,
                         capture_output=True, text=True, timeout=600)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["skipped"] == ["huge.png", "tall.png", "wide.png"], got
    assert got["seen"] == ["ok.png", "thin_but_fine.png"], got
    # decoding the huge one (81 M pixels: 243 MB as RGB) or resizing the tall one (590 MB) would show here
    assert got["grew_mb"] < 100, got
    assert "DecompressionBombWarning" not in out.stderr
