"""The overlap of tasks' own start and end times: what the benchmarks and the cap tests read."""

from __future__ import annotations

import pytest

from devtools.overlap import Overlap, overlap

pytestmark = pytest.mark.unit


def test_the_most_open_at_once_and_the_mean_over_the_span() -> None:
    # 0-4 and 1-3 overlap, 3-5 starts as 1-3 ends; 6-8 runs alone after a gap.
    assert overlap([(0, 4), (1, 3), (3, 5), (6, 8)]) == Overlap(most=2, mean=(4 + 2 + 2 + 2) / 8, span=8)


def test_an_interval_ending_as_another_starts_is_not_two_at_once() -> None:
    assert overlap([(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]).most == 1


def test_nothing_ran() -> None:
    assert overlap([]) == Overlap(0, 0.0, 0.0)


def test_an_interval_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^an interval ends before it starts: 2\.0 > 1\.0$"):
        overlap([(2.0, 1.0)])
