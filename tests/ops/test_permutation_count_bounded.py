"""mmd_test's permutation null: more relabellings than resolve p usefully are refused at once, with
the time they would take, instead of running for minutes without a word."""
import re
import subprocess
import sys

import pytest
import torch

import dan_ext

X = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
Y = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))


_PROBE = """
import torch, dan_ext
x, y = torch.randn(16, 8), torch.randn(16, 8)
try:
    dan_ext.mmd_test(x, y, estimator="unbiased", permutations=10**6)
    print("ran")
except ValueError as err:
    print(err)
"""


def test_a_million_permutations_are_refused_at_once_with_the_estimated_time():
    # a real process with a deadline: before the bound this ran for minutes
    out = subprocess.run([sys.executable, "-P", "-c", _PROBE], capture_output=True, text=True, timeout=60).stdout.strip()
    assert re.fullmatch(r"permutations must be at most 100000 \(p to a resolution of 1e-5\), got 1000000 "
                        r"\(here about (\d+) s: [0-9.e-]+ ms each\)", out), out
    assert int(re.search(r"about (\d+) s", out).group(1)) >= 1  # 10^6 all-pairs estimates take over a second


def test_the_bound_holds_whether_or_not_the_estimator_permutes():
    with pytest.raises(ValueError, match=r"^permutations must be at most 100000 .*got 100001$"):
        dan_ext.mmd_test(X, Y, permutations=100_001)


def test_permutations_within_the_bound_still_run():
    r = dan_ext.mmd_test(X, Y, estimator="biased", permutations=50, generator=torch.Generator().manual_seed(0))
    assert r.null == "permutation" and 0 < r.p_value <= 1
