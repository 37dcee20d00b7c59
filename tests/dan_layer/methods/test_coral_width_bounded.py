"""CORAL's covariances grow with the square of the aligned layer's width: a width whose matrices
would pass the budget is refused in one line, with the bytes it would need, before allocating."""
import resource

import pytest
import torch

from dan.methods.coral import CORAL, coral


def test_a_layer_too_wide_for_the_budget_is_refused_before_allocating():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    xs, xt = torch.zeros(4, 100_000), torch.zeros(4, 100_000)  # 100,000 classes: 1.6 MB of logits
    with pytest.raises(ValueError, match=r"^CORAL aligns the 100000 x 100000 covariance .* would need about 409\.8 GiB; "
                                         r"at most 2 GiB is allowed") as err:
        CORAL(["logits"])({"logits": xs}, {"logits": xt})
    assert "\n" not in str(err.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing d x d was made


def test_the_bound_sits_between_12000_classes_and_the_widths_in_use():
    with pytest.raises(ValueError, match="would need about 5.9 GiB"):
        coral(torch.zeros(4, 12_000), torch.zeros(4, 12_000))
    assert float(coral(torch.randn(8, 1000), torch.randn(8, 1000))) >= 0
