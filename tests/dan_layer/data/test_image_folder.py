"""Image folders: the layouts users have, class checks, multi-source, and the transforms."""
import numpy as np
import pytest
import torch

from dan import transforms
from dan.data import check_compatible, load_domain
from dan.data.image_folder import check_same_classes, concat, discover
from image_helpers import write_domain, write_unlabelled


def test_layouts(tmp_path):
    plain = discover(write_domain(tmp_path / "home"))                      # Office-Home, DomainNet, VisDA
    office = discover(write_domain(tmp_path / "amazon", office31=True))    # Office-31
    assert plain.classes == office.classes == ["cat", "dog", "owl"]
    assert len(plain) == len(office) == 18 and plain.labels == office.labels == [0] * 6 + [1] * 6 + [2] * 6
    assert office.root == tmp_path / "amazon" / "images"
    unl = discover(write_unlabelled(tmp_path / "real"))
    assert not unl.labelled and unl.labels is None and len(unl) == 5
    (tmp_path / "home" / "empty_class").mkdir()  # an empty class folder is not a class
    assert discover(tmp_path / "home").classes == ["cat", "dog", "owl"]
    (tmp_path / "nothing" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images under"):
        discover(tmp_path / "nothing")
    with pytest.raises(ValueError, match="is not a directory"):
        discover(tmp_path / "missing")


def test_class_names_must_match_and_the_error_lists_the_difference(tmp_path):
    a = discover(write_domain(tmp_path / "a"))
    b = discover(write_domain(tmp_path / "b", classes=("cat", "dog", "emu", "yak")))
    with pytest.raises(ValueError, match="only in the first: owl; only in the second: emu, yak"):
        check_same_classes(a, b)
    with pytest.raises(ValueError, match="only in the source: owl; only in the target: emu, yak"):
        check_compatible(load_domain(f"folder:{tmp_path / 'a'}"), load_domain(f"folder:{tmp_path / 'b'}"))
    # an unlabelled target has no classes to compare
    check_compatible(load_domain(f"folder:{tmp_path / 'a'}"), load_domain(f"folder:{write_unlabelled(tmp_path / 'u')}"))


def test_several_sources_are_concatenated(tmp_path):
    a, b = write_domain(tmp_path / "a", per_class=2), write_domain(tmp_path / "b", per_class=3, office31=True)
    both = load_domain(f"folder:{a},folder:{b}", labelled=True)
    assert len(both) == 15 and both.classes == ["cat", "dog", "owl"]
    assert both.images.labels == [0, 0, 1, 1, 2, 2] + [0] * 3 + [1] * 3 + [2] * 3
    assert concat([discover(a)]).paths == discover(a).paths
    with pytest.raises(ValueError, match="a source domain needs labels"):
        load_domain(f"folder:{a},folder:{write_unlabelled(tmp_path / 'u')}", labelled=True)


def _photo(w=64, h=48, seed=0):
    from PIL import Image

    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_transforms_shapes_normalisation_and_determinism():
    img = _photo()
    for mode, size in (("train", 32), ("eval", 32), ("fixed", 20)):
        gen = torch.Generator().manual_seed(5)
        x = transforms.apply(img, mode, size, gen)
        assert x.shape == (3, size, size) and x.dtype == torch.float32
    # same seed, same augmentation; another seed, another crop
    a = transforms.apply(img, "train", 32, torch.Generator().manual_seed(1))
    b = transforms.apply(img, "train", 32, torch.Generator().manual_seed(1))
    c = transforms.apply(img, "train", 32, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # eval: shorter side to 32 * 256/224 = 37, centre crop 32 (a plain grey image stays grey)
    from PIL import Image

    grey = Image.new("RGB", (80, 50), (128, 128, 128))
    x = transforms.apply(grey, "eval", 32)
    expect = (128 / 255 - transforms.MEAN) / transforms.STD
    np.testing.assert_allclose(x.mean(dim=(1, 2)).numpy(), expect, rtol=1e-5)


def test_random_resized_box_stays_inside_and_covers_the_range():
    gen = torch.Generator().manual_seed(0)
    areas = []
    for _ in range(500):
        left, top, w, h = transforms.random_resized_box(80, 80, gen)
        assert 0 <= left and 0 <= top and left + w <= 80 and top + h <= 80 and w > 0 and h > 0
        assert 3 / 4 - 0.05 <= w / h <= 4 / 3 + 0.05 or (w, h) == (80, 80)
        areas.append(w * h / 6400)
    assert min(areas) < 0.15 and max(areas) > 0.9  # 8%..100% of the area


def test_a_folder_with_class_folders_and_loose_images_is_refused(tmp_path):
    # a stray thumbnail beside cat/ dog/ owl/ used to turn the labelled domain into an unlabelled one of 1 image
    home = write_domain(tmp_path / "home")
    _photo(8, 8).save(home / "thumbnail.png")
    expect = (f"folder:{home}: ambiguous layout: 3 class folders holding 18 images and 1 image directly in {home}; "
              "move the loose image(s) into a class folder or away")
    with pytest.raises(ValueError) as err:
        discover(home, f"folder:{home}")
    assert str(err.value) == expect
    with pytest.raises(ValueError, match="ambiguous layout: 3 class folders holding 18 images and 1 image directly"):
        load_domain(f"folder:{home}")
    # Office-31 with a stray image beside images/: one class folder (images) and the loose image
    amazon = write_domain(tmp_path / "amazon", office31=True)
    for k in range(2):
        _photo(8, 8, seed=k).save(amazon / f"stray{k}.jpg")
    with pytest.raises(ValueError, match=r"ambiguous layout: 1 class folder holding 18 images and 2 images directly"):
        discover(amazon)
    # not ambiguous: Office-31 as it is, and loose images beside a folder that holds none
    assert discover(write_domain(tmp_path / "dslr", office31=True)).classes == ["cat", "dog", "owl"]
    real = write_unlabelled(tmp_path / "real")
    (real / "notes").mkdir()
    assert not discover(real).labelled and len(discover(real)) == 5


def test_class_names_equal_after_unicode_normalisation_are_one_class(tmp_path):
    import unicodedata

    nfc = [unicodedata.normalize("NFC", c) for c in ("café", "étoile", "fox")]
    nfd = [unicodedata.normalize("NFD", c) for c in nfc]
    assert nfc != nfd  # the folders differ on disk, byte for byte
    linux = discover(write_domain(tmp_path / "linux", classes=nfc))
    mac = discover(write_domain(tmp_path / "mac", classes=nfd))
    # NFC sorts "étoile" after "fox" (U+00E9 > f) and NFD before it (e < f): labels follow the NFC names
    assert linux.classes == mac.classes == [nfc[0], nfc[2], nfc[1]]
    assert linux.labels == mac.labels
    check_same_classes(linux, mac)
    check_compatible(load_domain(f"folder:{tmp_path / 'linux'}"), load_domain(f"folder:{tmp_path / 'mac'}"))
    assert concat([linux, mac]).classes == linux.classes
    # the files are still read where they are
    assert all(p.is_file() for p in mac.paths) and {p.parent.name for p in mac.paths} == set(nfd)
    # both forms in one folder are two folders for one class: refused, not silently merged or split
    write_domain(tmp_path / "both", classes=[nfc[0], nfd[0]])
    with pytest.raises(ValueError, match="are the same name in two Unicode forms"):
        discover(tmp_path / "both")
