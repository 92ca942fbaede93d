"""How many tasks ran at once, read from the tasks' own start and end times (seconds since the epoch, as
`time.time()` gives them in any process of one machine). The benchmarks and the tests of the parallelism cap
read the same numbers the same way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Overlap", "overlap"]


@dataclass(frozen=True)
class Overlap:
    """`most`: the largest number of intervals open at one instant; `mean`: their summed length over the span
    from the first start to the last end (the average number open); `span`: that span in seconds."""

    most: int
    mean: float
    span: float


def overlap(intervals: Iterable[tuple[float, float]]) -> Overlap:
    """The overlap of `(start, end)` intervals. An interval that ends at the instant another starts is not
    counted with it: a slot handed on is not two tasks at once."""
    edges: list[tuple[float, int]] = []
    busy = 0.0
    for start, end in intervals:
        if end < start:
            raise ValueError(f"an interval ends before it starts: {start!r} > {end!r}")
        edges += [(start, 1), (end, -1)]
        busy += end - start
    if not edges:
        return Overlap(0, 0.0, 0.0)
    edges.sort()  # at one instant, ends (-1) sort before starts (+1)
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    span = edges[-1][0] - edges[0][0]
    return Overlap(most, busy / span if span > 0 else float(most), span)
