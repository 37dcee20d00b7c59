"""Image decoding and the transforms of the published protocol, in PIL and torch alone (no
torchvision, so the main environment and CI run them), with every random draw taken from an
explicit generator.

    decode  size limits checked from the header, EXIF orientation applied, 16/32-bit greyscale
            scaled by its bit depth, then RGB (decode_rgb)
    train   random resized crop to S (area 8%-100%, aspect 3/4-4/3), horizontal flip, normalise
    eval    resize the shorter side to S * 256/224, centre crop S, normalise
    fixed   resize to S x S, normalise (--image-size S: small images such as digits; no crop, no flip)

Normalisation is ImageNet's mean and standard deviation; a backbone pretrained with another
convention converts inside its forward (efficientnet_lite.py). Each sample gets its own seed
from the trainer's sampler, so augmentations do not depend on the number of DataLoader workers
and --resume stays bit for bit.
"""
from __future__ import annotations

import math

import numpy as np
import torch

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
MODES = ("train", "eval", "fixed")
CROP = 224  # S, the crop size of the published protocol when --image-size does not fix one

# Limits on one image, checked from its header before a pixel is decoded, so that a small hostile
# file cannot make a DataLoader worker allocate gigabytes (issue 17). An image beyond them is
# skipped exactly as an undecodable one is (the dataset returns None, the trainer counts it).
#
# MAX_PIXELS bounds the decode: 50 megapixels keep 45-megapixel camera photos (8192 x 5464) while
# an RGB decode stays within 150 MB per worker (a 32-bit greyscale TIFF: 200 MB and one temporary
# as large). Pillow's own guard (Image.MAX_IMAGE_PIXELS, 89.5 M: a warning, an error at twice that)
# is higher, and it sees only the decoded pixels.
MAX_PIXELS = 50_000_000
# MAX_ASPECT bounds what the transforms make of a decoded image. "eval" scales the shorter side to
# S * 256/224 before the centre crop, so a 99-byte 1 x 3000 PNG became 256 x 768,000 pixels
# (590 MB of RGB, 1.08 GB at the peak) and a 1 x 65,000 one would need about 17 GB, though both
# are far below MAX_PIXELS. With the long side at most 50 times the short one, the resized image
# holds at most 50 * (S * 256/224)^2 pixels (3.3 M at S = 224); panoramas rarely pass 1:10.
MAX_ASPECT = 50
EXIF_ORIENTATION = 0x0112  # the EXIF tag; values 2-8 ask for a flip and/or a rotation


def check_size(width: int, height: int) -> None:
    """A one-line ValueError for an image beyond MAX_PIXELS or MAX_ASPECT (see above)."""
    if width < 1 or height < 1:
        raise ValueError(f"image of {width} x {height} pixels: both sides must be at least 1 pixel")
    if width * height > MAX_PIXELS:
        raise ValueError(f"image of {width} x {height} pixels: more than the {MAX_PIXELS:,} pixels allowed "
                         "(transforms.MAX_PIXELS)")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ValueError(f"image of {width} x {height} pixels: its aspect ratio is beyond the 1:{MAX_ASPECT} "
                         "allowed (transforms.MAX_ASPECT)")


# Value bits of PIL's integer greyscale modes when the file does not say better, as torchvision's
# to_dtype(..., scale=True) counts them for the tensor PIL's pixels land in: uint16 16, int32 31.
_STORAGE_BITS = {"I;16": 16, "I;16L": 16, "I;16B": 16, "I;16N": 16, "I": 31}


def _value_bits(im) -> int:
    """How many bits an integer greyscale image's values use: PNG stores deep greyscale as 16-bit
    unsigned only; a TIFF says it in BitsPerSample (258) and SampleFormat (339, 2 = signed);
    otherwise the storage's bits (31 for mode "I", as torchvision's int32 -> uint8)."""
    bits = _STORAGE_BITS[im.mode]
    if im.format == "PNG":
        return 16
    tags = getattr(im, "tag_v2", None) if im.format == "TIFF" else None
    if tags is not None:
        depth, signed = _first(tags.get(258)), _first(tags.get(339)) == 2
        if isinstance(depth, int) and 1 < depth <= 32:
            bits = min(bits, depth - signed)
    return bits


def _first(tag):
    """A TIFF tag's value, or its first value (one per sample)."""
    return tag[0] if isinstance(tag, tuple) and tag else tag


def decode_rgb(im):
    """An opened PIL image -> an RGB PIL image, as torchvision.io.decode_image(path, mode=RGB,
    apply_exif_orientation=True) followed by to_dtype(uint8, scale=True) gives it, in PIL.

    PIL's im.convert("RGB") clips every value above 255, so a 16-bit greyscale PNG (mode "I;16")
    or a 32-bit TIFF (mode "I" or "F") came out almost all white. That is what torchvision's
    default ImageFolder loader (pil_loader) and timm's ImageDataset still do: both are
    Image.open(f).convert("RGB"), without EXIF orientation either. Here:

      * size limits (check_size) from the header, before decoding;
      * the EXIF orientation (ImageOps.exif_transpose), as a photo viewer shows the image;
      * integer greyscale keeps its top 8 bits, torchvision's uint16/int32 -> uint8 right shift:
        16-bit PNG and TIFF values >> 8; a TIFF with another BitsPerSample by its own depth
        (12-bit >> 4); mode "I" without a known depth as 31-bit (torchvision's int32: >> 23), not
        by the image's own range (an image would then look the same at any exposure);
        negative values are 0;
      * float greyscale ("F") is taken as 0..1, clipped, times 255.999 truncated (torchvision's
        float -> uint8; NaN -> 0);
      * everything else through PIL's convert("RGB") (alpha dropped, as torchvision's loader).
    """
    from PIL import Image, ImageOps

    check_size(*im.size)
    bits = _value_bits(im) if im.mode in _STORAGE_BITS else None  # from the file, before a transpose
    if im.getexif().get(EXIF_ORIENTATION, 1) in range(2, 9):
        im = ImageOps.exif_transpose(im)
    if bits is not None:
        arr = np.clip(np.asarray(im), 0, 2 ** bits - 1)  # in its own dtype: one temporary only
        arr = arr >> (bits - 8) if bits >= 8 else arr << (8 - bits)
        im = Image.fromarray(arr.astype(np.uint8), "L")
    elif im.mode == "F":
        arr = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0)
        im = Image.fromarray((np.clip(arr, 0.0, 1.0) * np.float32(256 - 1e-3)).astype(np.uint8), "L")
    return im if im.mode == "RGB" else im.convert("RGB")


def _uniform(gen: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen, dtype=torch.float64))


def _randint(gen: torch.Generator, high_inclusive: int) -> int:
    return int(torch.randint(0, high_inclusive + 1, (), generator=gen))


def random_resized_box(width: int, height: int, gen: torch.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """(left, top, w, h) of a crop covering a random share of the area with a random aspect ratio;
    after 10 misses, the largest centred crop whose aspect ratio is in range."""
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * _uniform(gen, *scale)
        aspect = math.exp(_uniform(gen, log_lo, log_hi))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return _randint(gen, width - w), _randint(gen, height - h), w, h
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def to_tensor(img) -> torch.Tensor:
    """RGB PIL image -> float32 [3, H, W], ImageNet-normalised."""
    arr = (np.asarray(img, dtype=np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def apply(img, mode: str, size: int, gen: torch.Generator = None) -> torch.Tensor:
    """One RGB PIL image -> normalised [3, size, size]; ``gen`` is needed for mode "train".
    An image beyond MAX_PIXELS or MAX_ASPECT is refused (ValueError) before any resize."""
    from PIL import Image

    check_size(*img.size)
    if mode == "fixed":
        return to_tensor(img.resize((size, size), Image.BILINEAR))
    if mode == "eval":
        short = round(size * 256 / 224)
        w, h = img.size
        scale = short / min(w, h)
        img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
        w, h = img.size
        left, top = (w - size) // 2, (h - size) // 2
        return to_tensor(img.crop((left, top, left + size, top + size)))
    if mode != "train":
        raise ValueError(f"transform mode must be one of {MODES}, got {mode!r}")
    left, top, w, h = random_resized_box(*img.size, gen)
    img = img.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))
    if float(torch.rand((), generator=gen)) < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return to_tensor(img)
