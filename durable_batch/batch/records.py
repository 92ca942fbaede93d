"""Task records by chunk: the pure model behind the task table.

A job's tasks are recorded in **chunks**: runs of at most `CHUNK_SIZE` consecutive tasks of one partition.
A chunk is one table row holding every task's state, attempts, times, the result batch that holds its
result, and the head of its error, so recording a batch of tasks costs one row write, not one per task (one
row per task made Azurite the limit of every large job, and costs one storage transaction per task in Azure).
A task that failed for good also gets a failure row with its whole error and its last attempt's result.

The no-downgrade rule: an update is applied to a task only when its `(rank, attempts)` is greater than the
stored one (ranks: pending 0, running 1, finished 2), or equal and not finished (a running task's error may
be refreshed). So a late or repeated write never takes a task back, and a finished task stays as it was
first recorded. The one way back is a requeue (a disabled job stopping what runs): a task recorded running
at attempt `a` may go back to pending with `a - 1` attempts, and only from there.

Runs: a job that ended may be re-run (`durable_batch.batch.runs`), and each record remembers the run that wrote it. An
update of a later run replaces a record of an earlier run that did not succeed (failed, skipped, cancelled,
or left open by a crash), from a clean slate; it never replaces a succeeded one, so a re-run never recomputes
or loses a result. An update of an earlier run than the record's is a late write and is never applied. Within
one run the rule above holds. The rule lives here, once; the store applies it under an ETag and retries on
conflicts.

Pure: no I/O. Times are milliseconds since the Unix epoch (compact in a row, exact to what the API shows).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from durable_batch.batch.states import TaskCounts, TaskState

__all__ = [
    "CHUNK_SIZE",
    "ERROR_HEAD",
    "Chunk",
    "TaskEntry",
    "TaskUpdate",
    "chunk_key",
    "counts_of_codes",
    "first_batch",
    "parse_chunk_key",
    "rank",
]

CHUNK_SIZE = 500
"""Tasks per chunk row. 500 keeps the largest row (ids of 128 characters, error heads) under half of the
table service's 1 MiB entity limit, while a job of 1,000,000 tasks is 2,000 rows."""
ERROR_HEAD = 300
"""Characters of an error kept in the chunk row; the failure row keeps the whole error."""
BATCHES_PER_RUN = 100_000_000
"""Batch numbers of one run of a partition: run `n` numbers its batches from `first_batch(n)`, so no batch of
a re-run is taken for (or overwrites the results blob of) a batch of an earlier run."""


def first_batch(run: int) -> int:
    """The first batch number of a partition's run `run` (from 1)."""
    return (max(1, run) - 1) * BATCHES_PER_RUN


_CODES: Mapping[TaskState, str] = {
    TaskState.PENDING: "p",
    TaskState.RUNNING: "r",
    TaskState.SUCCEEDED: "s",
    TaskState.FAILED: "f",
    TaskState.SKIPPED: "k",
    TaskState.CANCELLED: "c",
}
_STATES: Mapping[str, TaskState] = {code: state for state, code in _CODES.items()}
_RANKS: Mapping[TaskState, int] = {
    TaskState.PENDING: 0,
    TaskState.RUNNING: 1,
    TaskState.SUCCEEDED: 2,
    TaskState.FAILED: 2,
    TaskState.SKIPPED: 2,
    TaskState.CANCELLED: 2,
}


def rank(state: TaskState) -> int:
    """0 pending, 1 running, 2 finished: the order records never go back in."""
    return _RANKS[state]


def state_code(state: TaskState) -> str:
    return _CODES[state]


def state_of_code(code: str) -> TaskState:
    return _STATES[code]


def chunk_key(partition: int, number: int) -> str:
    """The row key of a chunk: sorts by partition, then chunk."""
    return f"c{partition:06d}-{number:04d}"


def parse_chunk_key(key: str) -> tuple[int, int]:
    """(partition, number) of a `chunk_key`."""
    partition, number = key[1:].split("-")
    return int(partition), int(number)


def _head(error: str | None) -> str | None:
    if error is None or len(error) <= ERROR_HEAD:
        return error
    return error[: ERROR_HEAD - 3] + "..."


@dataclass(frozen=True)
class TaskUpdate:
    """A new record for the task at `index` (its position in the chunk)."""

    index: int
    state: TaskState
    attempts: int
    started_ms: int | None = None
    ended_ms: int | None = None
    error: str | None = None
    batch: int | None = None
    """The result batch whose blob holds the task's result row (succeeded tasks)."""
    requeue: bool = False
    """Back to pending (`state` PENDING, `attempts` one less than the running record's): see the module."""
    run: int = 1
    """The job's run this update belongs to (see the module)."""


@dataclass(frozen=True)
class TaskEntry:
    """One task as its chunk records it."""

    task_id: str
    partition: int
    state: TaskState
    attempts: int
    started_ms: int | None
    ended_ms: int | None
    error_head: str | None
    batch: int | None
    run: int = 1


@dataclass
class Chunk:
    """The records of one chunk's tasks, as parallel lists (compact in JSON)."""

    partition: int
    number: int
    ids: list[str]
    codes: list[str] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    started: list[int | None] = field(default_factory=list)
    ended: list[int | None] = field(default_factory=list)
    batches: list[int | None] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    done: list[int] = field(default_factory=list)
    """Result batches already applied: a batch run again after a crash is recognised and not applied twice."""
    runs: list[int] = field(default_factory=list)
    """The run that wrote each task's record (1 until the job is re-run)."""

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not self.codes:
            self.codes = ["p"] * n
            self.attempts = [0] * n
            self.started = [None] * n
            self.ended = [None] * n
            self.batches = [None] * n
        if not self.runs:
            self.runs = [1] * n

    @property
    def key(self) -> str:
        return chunk_key(self.partition, self.number)

    def __len__(self) -> int:
        return len(self.ids)

    def state(self, index: int) -> TaskState:
        return _STATES[self.codes[index]]

    def apply(self, updates: Sequence[TaskUpdate]) -> list[int]:
        """Apply updates by the no-downgrade rule; returns the indexes that changed, in the updates' order."""
        changed: list[int] = []
        for update in updates:
            i = update.index
            if not 0 <= i < len(self.ids):
                raise IndexError(f"chunk {self.key} has {len(self.ids)} tasks, not one at {i}")
            if update.run != self.runs[i]:
                if update.run < self.runs[i] or update.requeue or self.state(i) == TaskState.SUCCEEDED:
                    continue
                # A later run starts the task over from pending: nothing of the earlier run's record stays
                # (the update, ranked from there, always applies).
                self.runs[i] = update.run
                self.codes[i] = _CODES[TaskState.PENDING]
                self.attempts[i] = 0
                self.started[i] = self.ended[i] = None
            old = (rank(self.state(i)), self.attempts[i])
            new = (rank(update.state), update.attempts)
            if update.requeue:
                if self.state(i) != TaskState.RUNNING or self.attempts[i] != update.attempts + 1:
                    continue
            elif new < old or (new == old and new[0] == 2):
                continue
            self.codes[i] = _CODES[update.state]
            self.attempts[i] = update.attempts
            if update.started_ms is not None:
                self.started[i] = update.started_ms
            if update.ended_ms is not None:
                self.ended[i] = update.ended_ms
            self.batches[i] = update.batch
            head = _head(update.error)
            if head is None:
                self.errors.pop(i, None)
            else:
                self.errors[i] = head
            changed.append(i)
        return changed

    def lose(self, index: int, error: str, ended_ms: int | None, run: int) -> None:
        """Record the task at `index` as failed with `error`, whatever its record says now: the one write that
        breaks the no-downgrade rule, for a task whose record or result storage lost after acknowledging it (a
        record left open, a success whose result is gone). It was never recorded in full, so it counts as not
        run: failed, for a re-run to run again."""
        self.codes[index] = _CODES[TaskState.FAILED]
        self.runs[index] = run
        self.ended[index] = ended_ms
        self.batches[index] = None
        self.errors[index] = _head(error) or ""

    def entry(self, index: int) -> TaskEntry:
        return TaskEntry(
            self.ids[index],
            self.partition,
            self.state(index),
            self.attempts[index],
            self.started[index],
            self.ended[index],
            self.errors.get(index),
            self.batches[index],
            self.runs[index],
        )

    def entries(self, start: int = 0) -> Iterator[tuple[int, TaskEntry]]:
        for i in range(start, len(self.ids)):
            yield i, self.entry(i)

    def counts(self) -> TaskCounts:
        return counts_of_codes("".join(self.codes))

    @property
    def state_codes(self) -> str:
        """One character per task (`p r s f k c`): what listings and counts read without the rest of the row."""
        return "".join(self.codes)

    def body_json(self) -> str:
        """Everything but the state codes, as compact JSON."""
        return json.dumps(
            {
                "p": self.partition,
                "n": self.number,
                "ids": self.ids,
                "a": self.attempts,
                "t0": self.started,
                "t1": self.ended,
                "b": self.batches,
                "e": {str(i): text for i, text in self.errors.items()},
                "done": self.done,
                **({"r": self.runs} if any(run != 1 for run in self.runs) else {}),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_parts(cls, codes: str, body: str) -> Chunk:
        data: dict[str, Any] = json.loads(body)
        return cls(
            partition=int(data["p"]),
            number=int(data["n"]),
            ids=list(data["ids"]),
            codes=list(codes),
            attempts=[int(a) for a in data["a"]],
            started=list(data["t0"]),
            ended=list(data["t1"]),
            batches=list(data["b"]),
            errors={int(i): str(text) for i, text in data["e"].items()},
            done=[int(b) for b in data["done"]],
            runs=[int(r) for r in data.get("r", ())],
        )


def counts_of_codes(codes: str) -> TaskCounts:
    """Counts by state of a string of state codes."""
    return TaskCounts(
        total=len(codes),
        pending=codes.count("p"),
        running=codes.count("r"),
        succeeded=codes.count("s"),
        failed=codes.count("f"),
        skipped=codes.count("k"),
        cancelled=codes.count("c"),
    )
