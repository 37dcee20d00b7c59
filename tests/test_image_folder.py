"""Image folders: the layouts users have, class checks, multi-source, and the transforms."""
import numpy as np
import pytest
import torch

from dan import transforms
from dan.data import check_compatible, load_domain
from dan.image_folder import check_same_classes, concat, discover
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
