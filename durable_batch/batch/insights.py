"""A job's task records summed up for the dashboard: completions over time and failures grouped by error.

Computed from the chunk rows (`durable_batch.batch.records`) in one pass, in memory bounded by the job's duration in
seconds and by `GROUP_LIMIT`, never by its number of tasks: a job of a million tasks is 2,000 chunks, each
added and dropped. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from durable_batch.batch.records import Chunk, state_code
from durable_batch.batch.states import TaskState
from durable_batch.batch.times import from_ms, iso

__all__ = ["GROUP_LIMIT", "MAX_BUCKETS", "MAX_GROUPS", "SAMPLE_IDS", "Insights", "error_signature"]

MAX_BUCKETS = 500
"""Most bars a timeline may ask for."""
MAX_GROUPS = 100
"""Most failure groups one answer may list."""
GROUP_LIMIT = 1000
"""Distinct errors kept while scanning; failures with an error first seen beyond them count in `otherFailures`."""
SAMPLE_IDS = 5
"""Task ids kept per failure group, the first in task order."""
SIGNATURE_CHARS = 200

_FINISHED = (TaskState.SUCCEEDED.value, TaskState.FAILED.value, TaskState.SKIPPED.value, TaskState.CANCELLED.value)
_CODE_STATE = {state_code(TaskState(state)): state for state in _FINISHED}
_SPACE = re.compile(r"\s+")


def error_signature(error: str | None) -> str:
    """What failures are grouped by: the error's first non-blank line, its white space collapsed, cut to
    `SIGNATURE_CHARS`. Tracebacks and command output differ below their first line; the cause is on it."""
    if not error:
        return "(no error recorded)"
    for line in error.splitlines():
        text = _SPACE.sub(" ", line).strip()
        if text:
            return text[:SIGNATURE_CHARS]
    return "(blank error)"


@dataclass
class _Group:
    count: int = 0
    task_ids: list[str] = field(default_factory=list)


class Insights:
    """Add every chunk of a job (`add`), then read the summary (`to_json`)."""

    def __init__(self) -> None:
        self._ended: Counter[tuple[int, str]] = Counter()
        """Finished tasks by (second of their end, state)."""
        self._first_start: int | None = None
        self._groups: dict[str, _Group] = {}
        self._ungrouped = 0
        self._failed = 0
        self._tasks = 0

    def add(self, chunk: Chunk) -> None:
        self._tasks += len(chunk)
        for i, code in enumerate(chunk.codes):
            started = chunk.started[i]
            if started is not None and (self._first_start is None or started < self._first_start):
                self._first_start = started
            state = _CODE_STATE.get(code)
            if state is None:
                continue
            ended = chunk.ended[i]
            if ended is not None:
                self._ended[(ended // 1000, state)] += 1
            if state == TaskState.FAILED.value:
                self._failed += 1
                self._group(error_signature(chunk.errors.get(i)), chunk.ids[i])

    def _group(self, signature: str, task_id: str) -> None:
        group = self._groups.get(signature)
        if group is None:
            if len(self._groups) >= GROUP_LIMIT:
                self._ungrouped += 1
                return
            group = self._groups[signature] = _Group()
        group.count += 1
        if len(group.task_ids) < SAMPLE_IDS:
            group.task_ids.append(task_id)

    def timeline(self, buckets: int) -> dict[str, Any]:
        """Finished tasks by state in at most `buckets` equal intervals of whole seconds, from the first start
        (or end) to the last end; empty when no task has finished."""
        if not 1 <= buckets <= MAX_BUCKETS:
            raise ValueError(f"buckets must be from 1 to {MAX_BUCKETS}, not {buckets}")
        if not self._ended:
            return {"start": None, "end": None, "bucketSeconds": None, "buckets": []}
        seconds = [second for second, _ in self._ended]
        first = min(seconds) if self._first_start is None else min(min(seconds), self._first_start // 1000)
        last = max(seconds)
        width = max(1, math.ceil((last - first + 1) / buckets))
        count = (last - first) // width + 1
        bars = [dict.fromkeys(_FINISHED, 0) for _ in range(count)]
        for (second, state), n in self._ended.items():
            bars[(second - first) // width][state] += n
        return {
            "start": iso(from_ms(first * 1000)),
            "end": iso(from_ms((first + count * width) * 1000)),
            "bucketSeconds": width,
            "buckets": [{"start": iso(from_ms((first + k * width) * 1000)), **bar} for k, bar in enumerate(bars)],
        }

    def failure_groups(self, limit: int) -> dict[str, Any]:
        """The `limit` most frequent errors (ties in order of signature), and how many failures are left out."""
        if not 1 <= limit <= MAX_GROUPS:
            raise ValueError(f"groups must be from 1 to {MAX_GROUPS}, not {limit}")
        ranked = sorted(self._groups.items(), key=lambda item: (-item[1].count, item[0]))
        shown = ranked[:limit]
        return {
            "failed": self._failed,
            "groups": [{"error": key, "count": g.count, "taskIds": list(g.task_ids)} for key, g in shown],
            "otherFailures": self._failed - sum(g.count for _, g in shown),
            "distinctErrors": len(self._groups),
        }

    def to_json(self, buckets: int, groups: int) -> dict[str, Any]:
        return {
            "tasks": self._tasks,
            "completions": self.timeline(buckets),
            "failures": self.failure_groups(groups),
        }
