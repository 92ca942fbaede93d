"""Where each task of an inline job is in its stored spec, so that one task's view reads that task, not the job.

An inline job's `job.json` holds all its tasks (up to the body limit, 32 MiB by default). Beside it, the submit
writes `job.index`, little-endian and fixed-width, so a reader finds a task with a few small ranged reads:

    header  8 bytes b"DBTIDX1\\n"; u32 tasks (N); u32 partition size; u32 partitions (P)
    starts  P + 1 u32: where each partition's tasks begin in `order`, and where the last one's end
    order   N u32: the job position of each task, partition by partition, as the job's plan lays them out
    spans   N pairs of u32 (offset, length): each task's bytes in `job.json`, in job order

P is 0 when no task depends on another: the plan then cuts the job into runs of the partition size in order
(`durable_batch.batch.plan`), so a task's position follows from its partition and place by arithmetic, and `starts` and
`order` are left out. A task record says where its task is (partition, place in it); the index is correct only
for the partition size it was built with, which the reader compares with the job's.

`document_with_spans` makes the spec's text and the spans together; the text is byte for byte what one
`json` encoding of the whole spec gives, so every other reader of `job.json` is unaffected.
"""

from __future__ import annotations

import json
import secrets
import struct
import sys
from array import array
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from durable_batch.batch.plan import JobPlan

__all__ = ["MAGIC", "IndexedTask", "document_with_spans", "encode", "locate"]

MAGIC = b"DBTIDX1\n"
_HEADER = struct.Struct("<8sIII")
_U32 = struct.Struct("<I")
_SPAN = struct.Struct("<II")
_MAX_U32 = 2**32 - 1

ReadRange = Callable[[int, int], bytes]
"""Reads `length` bytes from `offset` of the index blob (fewer where it ends)."""


def document_with_spans(spec: Mapping[str, Any], encoder: json.JSONEncoder) -> tuple[bytes, list[tuple[int, int]]]:
    """`encoder.encode(spec)` as UTF-8, and the (offset, length) of each of its `tasks` in that text."""
    tasks = spec.get("tasks")
    if not isinstance(tasks, list):
        return encoder.encode(dict(spec)).encode(), []
    marker = f"\0tasks {secrets.token_hex(8)}"
    head, _, tail = encoder.encode({**spec, "tasks": marker}).partition(encoder.encode(marker))
    texts = [encoder.encode(task).encode() for task in tasks]
    spans: list[tuple[int, int]] = []
    offset = len(head.encode()) + 1  # after the "["
    for text in texts:
        spans.append((offset, len(text)))
        offset += len(text) + 1  # the "," after it
    return head.encode() + b"[" + b",".join(texts) + b"]" + tail.encode(), spans


def _u32s(values: Sequence[int]) -> bytes:
    packed = array("I", values)  # 32 bits wide on every platform CPython runs on
    if sys.byteorder == "big":
        packed.byteswap()  # the layout is little-endian on every machine
    return packed.tobytes()


def encode(spans: Sequence[tuple[int, int]], partition_size: int, plan: JobPlan | None) -> bytes:
    """The index of a job whose tasks are at `spans` of its spec; `plan` when its tasks have dependencies (None
    when they have none: the plan is then runs of `partition_size`)."""
    count = len(spans)
    if count > _MAX_U32 or any(offset + length > _MAX_U32 for offset, length in spans):
        raise ValueError("a task index addresses at most 4 GiB of spec")
    parts: list[bytes] = []
    partitions = 0
    if plan is not None:
        if plan.task_count != count or plan.partition_size != partition_size:
            raise ValueError("the plan is of another job or partition size")
        partitions = len(plan.partitions)
        starts = [0]
        order: list[int] = []
        for partition in plan.partitions:
            order.extend(partition.task_indexes())
            starts.append(len(order))
        parts += [_u32s(starts), _u32s(order)]
    parts.append(_u32s([value for span in spans for value in span]))
    return _HEADER.pack(MAGIC, count, partition_size, partitions) + b"".join(parts)


class IndexedTask:
    """A task found through the index: its job position and its bytes' place in `job.json`."""

    __slots__ = ("length", "offset", "position")

    def __init__(self, position: int, offset: int, length: int) -> None:
        self.position = position
        self.offset = offset
        self.length = length


def locate(read: ReadRange, partition_size: int, partition: int, place: int) -> IndexedTask | None:
    """The task at `place` in `partition`, by the index `read` reads; None when the index is not one (an
    older job has none), was built for another partition size, or has no such task."""
    if partition < 0 or place < 0:
        return None
    # The header and the starts up to this partition's end, in one read (past the header when P is 0: cut).
    head = read(0, _HEADER.size + _U32.size * (partition + 2))
    if len(head) < _HEADER.size:
        return None
    magic, count, size, partitions = _HEADER.unpack_from(head)
    if magic != MAGIC or size != partition_size:
        return None
    order_at = _HEADER.size + _U32.size * (partitions + 1)
    spans_at = _HEADER.size if partitions == 0 else order_at + _U32.size * count
    if partitions == 0:
        position = partition * size + place
        if place >= size or position >= count:
            return None
    else:
        if partition >= partitions or len(head) < _HEADER.size + _U32.size * (partition + 2):
            return None
        start, end = struct.unpack_from("<II", head, _HEADER.size + _U32.size * partition)
        if place >= end - start:
            return None
        entry = read(order_at + _U32.size * (start + place), _U32.size)
        if len(entry) < _U32.size:
            return None
        (position,) = _U32.unpack(entry)
        if position >= count:
            return None
    span = read(spans_at + _SPAN.size * position, _SPAN.size)
    if len(span) < _SPAN.size:
        return None
    offset, length = _SPAN.unpack(span)
    return IndexedTask(position, offset, length)
