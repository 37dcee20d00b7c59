"""min_rows_for_variance is public (dan_ext.estimators): a block size it cannot use must be refused
in one line, not searched for a row count that never comes (a negative block size looped forever)."""
import subprocess
import sys

import pytest

from dan_ext.estimators import min_rows_for_variance


@pytest.mark.parametrize("block_size", [-1, 1])
def test_block_size_below_two_is_refused_in_a_fresh_process(block_size):
    # a real process with a timeout: the old code never returned, which an in-process call would hang on
    code = ("from dan_ext.estimators import min_rows_for_variance\n"
            f"min_rows_for_variance('block', {block_size})\n")
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert f"ValueError: block_size must be at least 2, got {block_size}" in done.stderr


@pytest.mark.parametrize("block_size, error", [(2.5, TypeError), (True, TypeError)])
def test_block_size_that_is_not_an_int_is_refused(block_size, error):
    with pytest.raises(error, match="block_size must be an int"):
        min_rows_for_variance("block", block_size)


def test_block_size_for_an_estimator_without_blocks_is_refused():
    with pytest.raises(ValueError, match="block_size applies only to estimator='block'"):
        min_rows_for_variance("linear", 8)


def test_valid_block_sizes_still_give_two_blocks_of_rows():
    assert min_rows_for_variance("block", 8) == 16
    assert min_rows_for_variance("block") == 4
    assert min_rows_for_variance("linear") == 4
    assert min_rows_for_variance("unbiased") == 2
