"""The loop the job (over its partition groups) and a group (over its partitions) share: run numbered child
sub-orchestrations a few at a time, each with a share of a task-slot budget, until all have returned.

The shares in use never add up to more than the budget: a finished child's share goes to the next child.
A control event (`wire.control_event`: a live change of the cap, a disable or an enable) gives the loop a new
budget: the shares are split again by the same rule as at the start (`rebalance`), and running children get
their new shares through STOP_PARTITIONS (a share of 0 starts nothing: a disabled job). A control event that
moves the job to another pool (`durable_batch.orchestrators.control.pool_of`) goes on to every running child, and
children started later get the new pool in their input. On a stop (a cancel or
terminate event, a child that stopped under `terminateJob`, the deadline) no child starts any more; running
children get the same stop event through STOP_PARTITIONS (they stop themselves at the deadline), and children
never started run once with `skipAll`, so their tasks are recorded as skipped.

Used with `yield from` inside an orchestrator, so it is as deterministic as the orchestrator: no I/O, no
wall clock, no randomness.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import azure.durable_functions as df

from durable_batch.batch import wire
from durable_batch.batch.cost import Cost
from durable_batch.batch.plan import concurrency_shares
from durable_batch.batch.states import TaskCounts
from durable_batch.orchestrators.control import Controls, pool_of
from durable_batch.orchestrators.cost import reported
from durable_batch.orchestrators.partition import STORAGE_RETRY, event_reason

MIN_SHARE = 32
"""Children run at once get at least this many task slots each when the budget allows: fewer partitions with
larger shares replay less (a partition's replay cost grows with its history, and a larger share settles more
tasks per replay). A group's budget is split the same way, so the partitions running at once in all are about
as many as if the job ran them itself."""

ZERO = TaskCounts()

CANCEL, TERMINATE, TIMEOUT, SKIP = "cancel", "terminate", "timeout", "skip"
"""Why a fan-out stopped starting children: the stop event's reason, the deadline, or `skipAll`."""


def children_at_once(children: int, budget: int) -> int:
    """How many children run at the same time: one per MIN_SHARE slots of the budget, at least one."""
    return max(1, min(children, budget // MIN_SHARE or 1))


def rebalance(budget: int, running: int, waiting: int) -> tuple[list[int], list[int]]:
    """A new budget split as at the start: (the shares of the `running` children, larger first, and the free
    shares for children not started yet, of which `waiting` remain).

    As many children run at once as `children_at_once` says for the new budget, but never fewer than run now
    (a running child cannot be taken back): when the budget is smaller than the running children, some get
    0 (they start nothing until a finished child's share comes to them). The shares always add up to at most
    the budget; with nothing left to start, the running children share all of it.
    """
    if budget <= 0:
        return [0] * running, []
    count = max(running, min(children_at_once(running + waiting, budget), running + waiting))
    shares = concurrency_shares(budget, count) if count else []
    shares += [0] * (count - len(shares))
    return shares[:running], [s for s in shares[running:] if s > 0]


@dataclass(frozen=True)
class Progress:
    """What a custom status is made of, after each step of the loop."""

    stopping: str | None
    finished: TaskCounts
    """Counts of the children that returned."""
    started: int
    """Children 0 .. started - 1 have been started."""
    running: tuple[int, ...]
    running_ids: list[str]
    cost: Cost
    """What the children that returned cost, and the loop's own activities' storage requests."""


@dataclass(frozen=True)
class Measured:
    """Mean task times, in ms, that children measured (None: not yet): a sync handler task's (`taskMs`: a
    partition sizes its first batches from it) and a command task's (`commandMs`: a partition that knows its
    commands are short does not record each one `running` as it starts)."""

    task_ms: float | None = None
    command_ms: float | None = None

    def taking(self, result: Mapping[str, Any]) -> Measured:
        """These times, with those a child's result reports in their place."""
        return Measured(_ms(result.get("taskMs"), self.task_ms), _ms(result.get("commandMs"), self.command_ms))


def _ms(value: Any, otherwise: float | None) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else otherwise


@dataclass(frozen=True)
class Fanout:
    """What to run: `children` sub-orchestrations of `orchestrator`, numbered from 0."""

    job_id: str
    orchestrator: str
    children: int
    budget: int
    child_id: Callable[[int], str]
    child_input: Callable[[int, int, bool, Measured], Mapping[str, Any]]
    """(child, share, skip_all, measured) -> the child's input; `measured` is what the children that returned
    measured of their tasks' times, so later children start from it."""
    status: Callable[[Progress], Any]
    """The custom status to show while the loop runs."""
    deadline: datetime | None = None
    control: Callable[[Any], int | None] = lambda data: None
    """A control event's data -> the new budget (None: no change)."""
    pool: wire.PoolRef | None = None
    """The job's pool, in every child's input (None: a history from before pools)."""
    controls_seen: int = 0
    """Control events the orchestrator took before the loop (the job's, while it prepared)."""
    skip_all: bool = False
    """Run every child with `skipAll` (the parent stopped before this fan-out started)."""
    report_terminate_to: str | None = None
    """An instance to raise the `terminate` stop event on when a child stops under `terminateJob`: the job, so
    its other groups stop now rather than when this group has returned."""
    spec_hash: str = ""
    partition_size: int = 0
    run: int = 1
    """The job's run (`durable_batch.batch.runs`)."""
    partitions_of: Callable[[int], Sequence[int]] = lambda child: range(child, child + 1)
    """The job's partitions a child runs: itself for a partition, its range for a group. A child that fails
    has their unfinished tasks failed (SETTLE_PARTITIONS), so its tasks are counted and none stays running."""


@dataclass
class Outcome:
    """The children's results, summed, and why the loop stopped starting children (None: it did not)."""

    counts: TaskCounts = ZERO
    failed_tasks: list[str] = field(default_factory=list)
    stopping: str | None = None
    terminated: bool = False
    """A child reported a task that failed under `terminateJob`."""
    timed_out: bool = False
    errors: list[str] = field(default_factory=list)
    """One line for each child that failed or was terminated, and those its children reported."""
    measured: Measured = Measured()
    """The latest mean task times a child measured."""
    cost: Cost = field(default_factory=Cost)
    """The children's costs (each its own children's included), and SETTLE_PARTITIONS's storage requests."""


def run_children(context: df.DurableOrchestrationContext, fanout: Fanout) -> Generator[Any, Any, Outcome]:
    """Run all of `fanout`'s children under its budget; returns their summed results."""
    at_once = children_at_once(fanout.children, max(1, fanout.budget))
    free_shares = concurrency_shares(max(1, fanout.budget), at_once)
    stop_event = context.wait_for_external_event(wire.CANCEL_EVENT)
    controls = Controls(context, fanout.controls_seen)
    signalling: list[Any] = []  # STOP_PARTITIONS calls with new shares, not returned yet
    sent: dict[int, int] = {}  # child -> control events sent to it
    deadline_timer = context.create_timer(fanout.deadline) if fanout.deadline is not None else None
    running: dict[Any, tuple[int, int]] = {}  # sub-orchestration task -> (child, share)
    budget = fanout.budget
    pool = fanout.pool
    outcome = Outcome(stopping=SKIP if fanout.skip_all else None)
    started = 0

    def start(child: int, share: int, *, skip_all: bool = False) -> Any:
        request = dict(fanout.child_input(child, share, skip_all, outcome.measured))
        if pool is not None:
            request["pool"] = pool
        return context.call_sub_orchestrator(fanout.orchestrator, request, fanout.child_id(child))

    def stop(instance_ids: list[str], reason: str) -> Any:
        request: wire.StopPartitionsInput = {"jobId": fanout.job_id, "instanceIds": instance_ids, "reason": reason}
        return context.call_activity_with_retry(wire.STOP_PARTITIONS, STORAGE_RETRY, request)

    def give(changed: dict[Any, int], moved_to: wire.PoolRef | None = None) -> Any:
        """Tell running children their new shares (and note them), and the pool they move to, if any."""
        ids: list[str] = []
        names: list[str] = []
        for task, share in changed.items():
            child, _ = running[task]
            running[task] = (child, share)
            ids.append(fanout.child_id(child))
            sent[child] = sent.get(child, 0) + 1
            names.append(wire.control_event(sent[child]))
        request: wire.StopPartitionsInput = {
            "jobId": fanout.job_id,
            "instanceIds": ids,
            "reason": "control",
            "shares": list(changed.values()),
            "events": names,
        }
        if moved_to is not None:
            request["pool"] = moved_to
        return context.call_activity_with_retry(wire.STOP_PARTITIONS, STORAGE_RETRY, request)

    def feed_starved() -> dict[Any, int]:
        """Free shares go first to running children left with none by a lower budget."""
        changed: dict[Any, int] = {}
        for task, (_, share) in running.items():
            if share == 0 and free_shares and outcome.stopping is None:
                changed[task] = free_shares.pop()
        return changed

    crashed: list[int] = []

    def add(child: int, result: Any) -> None:
        if isinstance(result, Exception) or not isinstance(result, dict):
            # Its tasks are counted once SETTLE_PARTITIONS has failed the unfinished ones (after the loop).
            crashed.append(child)
            outcome.errors.append(f"{fanout.child_id(child)} ended without a result: {one_line(str(result))}")
            return
        outcome.errors.extend(str(e) for e in result.get("errors") or ())
        outcome.cost = outcome.cost + Cost.from_json(result.get("cost"))
        outcome.counts = outcome.counts + TaskCounts.from_json(result["taskCounts"])
        room = wire.MAX_LISTED_FAILURES - len(outcome.failed_tasks)
        outcome.failed_tasks.extend(result["failedTasks"][: max(0, room)])
        outcome.timed_out = outcome.timed_out or bool(result.get("timedOut"))
        outcome.measured = outcome.measured.taking(result)

    while True:
        starved = feed_starved()
        if starved:
            signalling.append(give(starved))
        while started < fanout.children and free_shares and outcome.stopping is None:
            share = free_shares.pop()
            running[start(started, share)] = (started, share)
            started += 1
        children = tuple(child for child, _ in running.values())
        ids = [fanout.child_id(child) for child in children]
        progress = Progress(outcome.stopping, outcome.counts, started, children, ids, outcome.cost)
        context.set_custom_status(fanout.status(progress))
        if not running:
            break
        # New shares are sent while the loop goes on: it keeps waiting for the next change meanwhile.
        signalling = [task for task in signalling if not task.is_completed]
        waiting = [*running, *signalling]
        if outcome.stopping is None:
            waiting.append(stop_event)
            waiting.append(controls.waiting)
            if deadline_timer is not None:
                waiting.append(deadline_timer)
        yield context.task_any(waiting)

        new_stop: str | None = None
        child_terminated = False
        for task in [t for t in running if t.is_completed]:
            child, share = running.pop(task)
            if share > 0:
                free_shares.append(share)
            add(child, task.result)
            if isinstance(task.result, dict) and task.result["terminated"]:
                outcome.terminated = True
                child_terminated = child_terminated or outcome.stopping is None
        if outcome.stopping is None:
            if child_terminated:
                new_stop = TERMINATE
            elif stop_event.is_completed:
                new_stop = CANCEL if event_reason(stop_event.result) == CANCEL else TERMINATE
            elif deadline_timer is not None and deadline_timer.is_completed:
                new_stop = TIMEOUT  # the children have the same deadline and stop themselves
        came, data = controls.take() if outcome.stopping is None and new_stop is None else (False, None)
        if came:
            changed_budget = fanout.control(data)
            changed: dict[Any, int] = {}
            if changed_budget is not None and changed_budget != budget:
                budget = max(0, changed_budget)
                tasks = sorted(running, key=lambda t: running[t][0])
                shares, free_shares = rebalance(budget, len(tasks), fanout.children - started)
                changed = {t: s for t, s in zip(tasks, shares, strict=True) if running[t][1] != s}
            moved_to = pool_of(data)
            if moved_to is not None and (pool is None or moved_to["id"] != pool["id"]):
                pool = moved_to
                changed = {task: changed.get(task, share) for task, (_, share) in running.items()}
            else:
                moved_to = None
            if changed:
                signalling.append(give(changed, moved_to))
        if new_stop is not None:
            outcome.stopping = new_stop
            targets = [fanout.child_id(child) for child, _ in running.values()] if new_stop != TIMEOUT else []
            if child_terminated and fanout.report_terminate_to is not None:
                targets.append(fanout.report_terminate_to)
            if targets:
                yield stop(targets, new_stop)

    # Children never started still owe their tasks a record: a quick pass marks them skipped.
    if started < fanout.children:
        skipped = list(range(started, fanout.children))
        results = yield context.task_all([start(child, 1, skip_all=True) for child in skipped])
        for child, result in zip(skipped, results, strict=True):
            add(child, result)
    if crashed:
        request: wire.SettlePartitionsInput = {
            "jobId": fanout.job_id,
            "specHash": fanout.spec_hash,
            "partitionSize": fanout.partition_size,
            "partitions": [p for child in crashed for p in fanout.partitions_of(child)],
            "reason": "; ".join(outcome.errors[-len(crashed) :]),
        }
        if fanout.run > 1:
            request["run"] = fanout.run
        settled: wire.SettledPartitions = yield context.call_activity_with_retry(
            wire.SETTLE_PARTITIONS, STORAGE_RETRY, request
        )
        outcome.counts = outcome.counts + TaskCounts.from_json(settled["taskCounts"])
        outcome.cost = outcome.cost + reported(settled)
        room = wire.MAX_LISTED_FAILURES - len(outcome.failed_tasks)
        outcome.failed_tasks.extend(settled["failedIds"][: max(0, room)])
    return outcome


def one_line(text: str, limit: int = 300) -> str:
    """A failure's message in one line, for a job's reason: the last line of a traceback (the exception and
    its message), never the frames with their file paths."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Traceback", 'File "', "^", "~"))]
    picked = useful[-1] if useful else (lines[-1] if lines else "no message")
    return picked if len(picked) <= limit else picked[: limit - 3] + "..."
