"""What happens to a batch whose process dies, or that cannot run at all: the rules, without the SDK.

A task that ends its process (`os._exit`, a segfault, the OOM killer) takes down everything that runs in that
process with it: its own batch, and the batches of other tasks that shared the worker. Nothing in the dead
process can say which task did it. So a partition runs the tasks of a batch whose process died again **each in
a process of its own** (an isolated batch: one child process at a time runs its tasks one after another, see
`durable_batch.activities.isolation`): the task that kills its process then kills only its child, the activity knows
exactly which task that was, and that task alone is charged an attempt, "its process died (exit code 137)", retried
like any failed attempt until its retries are used up. Every other task of the batch runs and is recorded
once. No batch runs in a loop: a task whose batches keep dying without any telling why fails after
`MAX_DEATHS` of them.

Why isolation and not bisection (running halves of the batch until one task is left): each step of a bisection
kills a worker again, and with it whatever else was running there, whose batches then look just as guilty; a
task alone in its batch could still die with another batch's killer and be charged for it. A child process per
isolated batch finds the task in one run, at the cost of starting one process (about a second) per batch that
died.

How a death is known: devhost fails the activity with `WorkerProcessDied: its process died (exit code 137)`;
the Functions host fails the invocation with `WorkerProcessExitException: python exited with code 137`, or
delivers the activity again, which RUN_BATCH recognises by the delivery mark its earlier delivery left (see
`delivery_verdict`). Any other failure of RUN_BATCH (storage out of reach, a spec replaced) runs the batch again
after `RELAUNCH_PAUSE_SECONDS`, up to `MAX_RUNS` times in all, as the partition's storage retries always did.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "MAX_DEATHS",
    "MAX_RUNS",
    "RELAUNCH_PAUSE_SECONDS",
    "BatchFailures",
    "Delivery",
    "Recovery",
    "Verdict",
    "death_reason",
    "delivery_verdict",
    "process_death",
]

RELAUNCH_PAUSE_SECONDS = 2.0
"""The wait before a batch that failed (not by a process death) runs again."""
MAX_RUNS = 6
"""Runs of a task's batches that fail without an outcome, a death aside, before the task fails."""
MAX_DEATHS = 4
"""Batches that ran a task and died, with no task charged for it, before the task fails."""


def death_reason(returncode: int) -> str:
    """How a task's own process ended, in the words devhost uses for a worker (devhost cannot share code with
    the app): `its process died (exit code 137)`, or `(signal SIGKILL)` for a negative return code."""
    if returncode < 0:
        try:
            return f"its process died (signal {signal.Signals(-returncode).name})"
        except ValueError:
            return f"its process died (signal {-returncode})"
    return f"its process died (exit code {returncode})"


_DIED = re.compile(r"its process died(?: \([^)]*\))?")
_EXITED = re.compile(r"exited with code (-?\d+)")


def process_death(error: str) -> str | None:
    """The process death an activity's failure reports, as `its process died (exit code 137)`; None when it
    failed for another reason. Reads devhost's `its process died (...)` and the Functions host's
    `WorkerProcessExitException: python exited with code 137`."""
    found = _DIED.search(error)
    if found is not None:
        return found.group(0)
    exited = _EXITED.search(error)
    if exited is not None:
        return f"its process died (exit code {exited.group(1)})"
    if "WorkerProcessExitException" in error:
        return "its process died"
    return None


@dataclass(frozen=True)
class Recovery:
    """What to do with the tasks (position, attempt) of a batch that returned no outcome."""

    isolated: list[tuple[int, int]] = field(default_factory=list)
    """Run again now, in an isolated batch."""
    later: list[tuple[int, int]] = field(default_factory=list)
    """Run again after `RELAUNCH_PAUSE_SECONDS`."""
    failed: list[tuple[int, int, str]] = field(default_factory=list)
    """Fail for good: (position, attempt, error)."""


@dataclass
class BatchFailures:
    """A partition's record of its batches that returned no outcome, and the tasks that now run isolated.
    Everything here follows from the history, so a replay decides the same."""

    isolated: set[int] = field(default_factory=set)
    """Tasks whose batch died once: from then on they, and their retries, run in isolated batches."""
    _runs: dict[int, int] = field(default_factory=dict)
    _deaths: dict[int, int] = field(default_factory=dict)

    def is_isolated(self, position: int) -> bool:
        return position in self.isolated

    def failed(self, tasks: Iterable[tuple[int, int]], error: str) -> Recovery:
        """A batch's activity failed with `error`: a process death (see `died`), or anything else, which
        runs its tasks again after a pause until one has been through `MAX_RUNS` such failures."""
        death = process_death(error)
        if death is not None:
            return self.died(tasks, death)
        recovery = Recovery()
        first_line = error.strip().splitlines()[0].strip()[:500] if error.strip() else "no reason given"
        for position, attempt in tasks:
            runs = self._runs[position] = self._runs.get(position, 0) + 1
            if runs < MAX_RUNS:
                recovery.later.append((position, attempt))
            else:
                recovery.failed.append((position, attempt, f"the batch that ran this task failed: {first_line}"))
        return recovery

    def died(self, tasks: Iterable[tuple[int, int]], death: str) -> Recovery:
        """A batch's process died (`death` says how): its tasks run again isolated, each charged nothing,
        until one has been in `MAX_DEATHS` batches that died."""
        recovery = Recovery()
        for position, attempt in tasks:
            self.isolated.add(position)
            deaths = self._deaths[position] = self._deaths.get(position, 0) + 1
            if deaths < MAX_DEATHS:
                recovery.isolated.append((position, attempt))
            else:
                error = (
                    f"ProcessDied: {death}; {deaths} batches that ran this task died without telling which task "
                    "ended their process, the last ones running it in a process of its own"
                )
                recovery.failed.append((position, attempt, error))
        return recovery


class Verdict(Enum):
    """What a RUN_BATCH delivery does, given the delivery mark of the batch (see `delivery_verdict`)."""

    RUN = "run"
    """The first delivery: run the batch."""
    RUN_AGAIN = "run again"
    """An earlier delivery was cut short by its host's own end (a restart): run it whole again, as at least once
    promises."""
    DIED = "died"
    """An earlier delivery's process died under a host that lives on: the batch is not run here; the answer
    tells the partition, which runs its tasks isolated."""


@dataclass(frozen=True)
class Delivery:
    """Who runs a delivery of a batch: `process` names this process, `host` the one that supervises it (the
    Functions host, or devhost, that restarts a worker which died), and `count` the deliveries of the batch
    that started, this one included."""

    host: str
    process: str
    count: int = 1


def delivery_verdict(earlier: Delivery | None, this: Delivery) -> tuple[Verdict, Delivery]:
    """Whether this delivery of a batch runs it, and the delivery mark to leave.

    A delivery finds a mark only when an earlier one started the batch and did not return (a recorded batch is
    answered from its record first). Under the same host, in another process, that earlier process died: the
    Functions host had restarted its worker and delivered the activity again, and running the batch here would
    only kill this worker too (a crash loop). Under another host, the host itself ended (devhost restarted
    after a crash, say): that says nothing against the batch, which runs again whole under its own number, as
    at least once promises (its results blob is then replaced, never doubled). A task cannot end the host that
    supervises its worker, so this does not loop. The same process twice is a duplicate delivery, which runs as
    any at-least-once run does.
    """
    if earlier is None:
        return Verdict.RUN, this
    again = Delivery(this.host, this.process, earlier.count + 1)
    if earlier.host == this.host and earlier.process != this.process:
        return Verdict.DIED, again
    return Verdict.RUN_AGAIN, again
