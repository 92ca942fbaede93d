"""Planning a job for the orchestrator: partitions, their share of the parallelism cap, the per-partition
dependency scheduler, and the rule that decides how a finished job ends.

Why partitions: the Durable SDK replays an orchestration's whole history on every episode, so one
orchestration that fans out 10,000 activities does quadratic work and, on the real host, runs out of memory.
The job orchestrator therefore runs each partition as a sub-orchestration whose history is bounded by
`partition_size` tasks. Dependencies never cross partitions, so a partition runs on its own, with a
`DagScheduler`, and reports its counts back.

Everything here is pure and deterministic: the same inputs and calls give the same outputs, as replay needs.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from durable_batch.batch.errors import PlanError
from durable_batch.batch.graph import weak_components
from durable_batch.batch.spec import JobSpec
from durable_batch.batch.states import JobState, TaskCounts, TaskState

DEFAULT_PARTITION_SIZE = 2000
"""Tasks per partition. A partition runs its tasks in batches (`durable_batch.batch.batching`), so its history grows
with its
batches, not its tasks: 2,000 trivial tasks are a handful of batches. Larger partitions mean fewer
orchestrations and storage calls, smaller ones more partitions running side by side. Measured end to end
(bench/batch_jobs.py, trivial tasks, maxParallelTasks 200, two worker processes, one run each on a noisy
2-core machine): 10,000 tasks ran at 2,660 tasks/s with partitions of 50, 2,420-3,490 with 1,000, 4,420 with
2,000 and 2,060 with 5,000 (two partitions cannot keep the workers busy); 100,000 tasks in partitions of 2,000
ran at 9,080 tasks/s, 0.006 history events per task. Before batching, 50 was best (one activity per task made
a partition's cost grow with the square of its size)."""

PER_CALL_PARTITION_SIZE = 50
"""Tasks per partition when every task gets an activity call of its own (`taskBatchSize` 1): then a partition's
history grows with its tasks, and each of its episodes replays all of it, so the cost per task grows with the
partition. Measured (devhost's defaults, the first job after start, 2 cores), 1,000 one-call tasks at
maxParallelTasks 16: 314-340 tasks/s in partitions of 100, 341-376 of 50, 324-343 of 32; 10,000 at
maxParallelTasks 100: 465 tasks/s of 100, 540-547 of 50. Per million tasks (`bench.job_cost`), 50 replays 21
million history events against 26, in 276,000 episodes against 204,000. Below 50 the partitions' own start-up
work (their plan, their pool exchanges) costs more than the shorter replays save. (Before a partition's replay
got cheaper, 100 was best: 57 tasks/s, against 35 in partitions of 2,000.)"""


def partition_size_for(spec: JobSpec, configured: int) -> int:
    """The partition size a job gets: the configured one (`BATCH_PARTITION_SIZE`), or at most
    `PER_CALL_PARTITION_SIZE` for a job whose tasks get a call each (`taskBatchSize` 1, or inline tasks that
    are all commands, which always do). A task factory's tasks are not read for this: only its
    `taskBatchSize` counts. (Command jobs had partitions of 100 while each partition recorded the commands it
    started before it had measured one by writes of their own; since partitions start from what earlier ones
    measured, 2,000 commands at maxParallelTasks 32 ran alike in both, 111-130 tasks/s against 94-122.)"""
    inline = spec.tasks if spec.factory is None else ()
    calls_each = spec.task_batch_size == 1 or (bool(inline) and all(task.is_command for task in inline))
    return min(configured, PER_CALL_PARTITION_SIZE) if calls_each else configured


GROUP_SIZE = 40
"""Partitions per partition group. The job orchestrator runs groups, each group runs its partitions: the
job's history grows with the number of groups and a group's with its partitions, so both stay short for
100,000 tasks (50 groups of 40 partitions of 50 tasks). Measured in the tests' simulator (trivial tasks,
maxParallelTasks 200, best of several runs): 40 keeps a job of 2,000 tasks (one group) as fast as without
groups and runs 40,000 tasks at 2,870 tasks/s against 2,060 without groups; 20 was slower at both sizes
(2,680 and 2,640 tasks/s), as more groups cost the job more than shorter groups save."""


def group_count(partitions: int, group_size: int = GROUP_SIZE) -> int:
    """How many groups run `partitions` partitions, `group_size` (the last one fewer) in each."""
    if group_size < 1:
        raise PlanError(f"group_size must be at least 1, not {group_size}")
    return -(-max(0, partitions) // group_size)


@dataclass(frozen=True, slots=True)
class Partition:
    """Some of a job's tasks, as half-open `[start, stop)` ranges of positions in `JobSpec.tasks`, ascending
    and not touching. Independent tasks give one range per partition, so a partition is a few numbers and
    travels cheaply as a sub-orchestration's input."""

    index: int
    ranges: tuple[tuple[int, int], ...]

    @property
    def size(self) -> int:
        return sum(stop - start for start, stop in self.ranges)

    def task_indexes(self) -> Iterator[int]:
        """Positions of the partition's tasks in `JobSpec.tasks`, ascending."""
        for start, stop in self.ranges:
            yield from range(start, stop)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "ranges": [[start, stop] for start, stop in self.ranges]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Partition:
        return cls(data["index"], tuple((int(start), int(stop)) for start, stop in data["ranges"]))


@dataclass(frozen=True, slots=True)
class JobPlan:
    """The partitions of a job, in order. Every task is in exactly one partition; the tasks of a partition,
    and every task they depend on, are in that partition."""

    task_count: int
    partition_size: int
    partitions: tuple[Partition, ...]

    def partition_of(self) -> list[int]:
        """Task position -> partition index. Built on each call (O(tasks)): keep the result."""
        owner = [0] * self.task_count
        for partition in self.partitions:
            for i in partition.task_indexes():
                owner[i] = partition.index
        return owner

    def to_json(self) -> dict[str, Any]:
        return {
            "taskCount": self.task_count,
            "partitionSize": self.partition_size,
            "partitions": [p.to_json() for p in self.partitions],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobPlan:
        partitions = tuple(Partition.from_json(p) for p in data["partitions"])
        return cls(data["taskCount"], data["partitionSize"], partitions)


def plan_job(spec: JobSpec, partition_size: int = DEFAULT_PARTITION_SIZE) -> JobPlan:
    """Partition a validated job; see `plan_tasks`. A factory's tasks without dependencies between them are
    cut into runs of `partition_size` without reading them."""
    if spec.factory is not None and not spec.factory["resolved"].get("dependencies"):
        return plan_independent(len(spec.tasks), partition_size)
    index = spec.task_index()
    return plan_tasks([[index[d] for d in task.dependency_ids()] for task in spec.tasks], partition_size)


def plan_independent(count: int, partition_size: int = DEFAULT_PARTITION_SIZE) -> JobPlan:
    """Partition `count` tasks without dependencies: consecutive runs of `partition_size`."""
    if partition_size < 1:
        raise PlanError(f"partition_size must be at least 1, not {partition_size}")
    starts = range(0, count, partition_size)
    partitions = tuple(Partition(p, ((start, min(count, start + partition_size)),)) for p, start in enumerate(starts))
    return JobPlan(count, partition_size, partitions)


def plan_tasks(dependencies: Sequence[Sequence[int]], partition_size: int = DEFAULT_PARTITION_SIZE) -> JobPlan:
    """Partition tasks 0..n-1, where `dependencies[i]` are the positions task i depends on.

    Tasks joined by dependencies, in either direction (a weakly connected component), stay together.
    Components are taken in the order of their first task and packed greedily: one joins the current
    partition if it fits within `partition_size`, else it starts the next. A component larger than
    `partition_size` is a partition on its own, over the size: splitting it would make dependencies cross
    partitions. (Such a job still works; only that partition's history is longer.) O(tasks + dependencies).
    """
    if partition_size < 1:
        raise PlanError(f"partition_size must be at least 1, not {partition_size}")
    n = len(dependencies)
    labels = weak_components(n, dependencies)
    sizes = [0] * (max(labels, default=-1) + 1)
    for label in labels:
        sizes[label] += 1
    partition_of_label = [0] * len(sizes)
    current, filled = -1, 0
    for label, size in enumerate(sizes):
        if current == -1 or filled + size > partition_size:
            current, filled = current + 1, 0
        partition_of_label[label] = current
        filled += size
    ranges: list[list[list[int]]] = [[] for _ in range(current + 1)]
    for i, label in enumerate(labels):
        own = ranges[partition_of_label[label]]
        if own and own[-1][1] == i:
            own[-1][1] = i + 1
        else:
            own.append([i, i + 1])
    partitions = tuple(Partition(p, tuple((start, stop) for start, stop in spans)) for p, spans in enumerate(ranges))
    return JobPlan(n, partition_size, partitions)


def concurrency_shares(max_parallel: int, running_partitions: int) -> list[int]:
    """Split a job's `maxParallelTasks` among partitions that run at the same time.

    Returns one share per partition to start now: `min(running_partitions, max_parallel)` shares, each at
    least 1, differing by at most 1 (larger first), summing to exactly `max_parallel` (or to nothing when no
    partition runs). The orchestrator starts that many partitions, each running at most its share of tasks
    at once, and hands a finished partition's share to the next partition it starts: the shares in use then
    never add up to more than the cap.
    """
    if max_parallel < 1:
        raise PlanError(f"max_parallel must be at least 1, not {max_parallel}")
    if running_partitions < 0:
        raise PlanError(f"running_partitions must not be negative, not {running_partitions}")
    count = min(running_partitions, max_parallel)
    if count == 0:
        return []
    base, extra = divmod(max_parallel, count)
    return [base + 1] * extra + [base] * (count - extra)


_WAITING, _READY, _RUNNING, _SUCCEEDED, _FAILED, _SKIPPED = range(6)
_PUBLIC_STATE = (
    TaskState.PENDING,
    TaskState.PENDING,
    TaskState.RUNNING,
    TaskState.SUCCEEDED,
    TaskState.FAILED,
    TaskState.SKIPPED,
)


class DagScheduler:
    """Which of a partition's tasks may start, as their dependencies succeed or fail.

    The orchestrator asks `ready(n)` for up to n tasks to start (they become running), reports each final
    outcome (after retries) with `mark_succeeded` or `mark_failed`, and stops when `is_finished`. Ready tasks
    come out in task order. A failure skips every task that depends on it, directly or not. To stop early
    (`terminateJob`, cancel, wall clock), `skip_all_pending` skips every task not yet started; running tasks
    still need their outcome reported. Deterministic, and O((tasks + dependencies) log tasks) in all.
    Misuse (an unknown id, marking a task that isn't running) raises `PlanError`.
    """

    def __init__(self, task_ids: Sequence[str], depends_on: Sequence[Sequence[str]]) -> None:
        """`depends_on[i]` are the ids task `task_ids[i]` depends on, all among `task_ids`."""
        if len(task_ids) != len(depends_on):
            raise PlanError("task_ids and depends_on must have the same length")
        self._ids = list(task_ids)
        self._index = {task_id: i for i, task_id in enumerate(self._ids)}
        if len(self._index) != len(self._ids):
            raise PlanError("task ids must be unique")
        n = len(self._ids)
        self._remaining = [0] * n
        self._dependents: Sequence[Sequence[int]]
        if any(depends_on):
            dependents: list[list[int]] = [[] for _ in range(n)]
            for i, deps in enumerate(depends_on):
                for dep in deps:
                    k = self._index.get(dep)
                    if k is None:
                        raise PlanError(f"task {self._ids[i]!r} depends on {dep!r}, which is not scheduled here")
                    dependents[k].append(i)
                    self._remaining[i] += 1
            self._dependents = dependents
            self._state = [_WAITING] * n
            self._heap = [i for i in range(n) if self._remaining[i] == 0]  # ascending, so already a heap
            for i in self._heap:
                self._state[i] = _READY
            self._check_acyclic()
        else:
            # Every task ready, none with dependents (they share one empty tuple), no cycle to look for: a
            # partition is built again at every step of its replay, and a list per task was most of that.
            self._dependents = [()] * n
            self._state = [_READY] * n
            self._heap = list(range(n))
        self._pending, self._running, self._succeeded, self._failed, self._skipped = n, 0, 0, 0, 0

    @classmethod
    def for_partition(cls, spec: JobSpec, partition: Partition) -> DagScheduler:
        """The scheduler of one partition of a validated job."""
        tasks = [spec.tasks[i] for i in partition.task_indexes()]
        return cls([t.id for t in tasks], [list(t.dependency_ids()) for t in tasks])

    def _check_acyclic(self) -> None:
        # A cycle would leave tasks pending forever and the orchestration waiting forever; validation
        # rejects cycles, so this only guards against a caller passing something else.
        remaining = list(self._remaining)
        stack = list(self._heap)
        reached = 0
        while stack:
            v = stack.pop()
            reached += 1
            for w in self._dependents[v]:
                remaining[w] -= 1
                if remaining[w] == 0:
                    stack.append(w)
        if reached != len(self._ids):
            raise PlanError("the dependencies have a cycle; validate jobs with batch.validation.parse_job")

    def ready(self, limit: int) -> list[str]:
        """Up to `limit` tasks to start now, in task order; they are running from here on. To respect a
        share, pass `share - running` (see `counts`)."""
        return self.ready_run(limit, lambda _first, _task: True)

    def ready_run(self, limit: int, same: Callable[[str, str], bool]) -> list[str]:
        """Like `ready`, but stops before the first task that is not `same(first, task)` as the first one
        handed out: a run of ready tasks that can share one activity call."""
        if limit < 0:
            raise PlanError(f"limit must not be negative, not {limit}")
        started: list[str] = []
        while self._heap and len(started) < limit:
            candidate = self._ids[self._heap[0]]
            if started and not same(started[0], candidate):
                break
            i = heapq.heappop(self._heap)
            self._state[i] = _RUNNING
            started.append(self._ids[i])
        self._pending -= len(started)
        self._running += len(started)
        return started

    def ready_below(self, limit: int, stop: int) -> list[str]:
        """`ready_run` with a `same` that takes the tasks whose index (their place in the order this scheduler
        was given them) is below `stop`, without a call for each: it runs for every task of every batch in
        every replay of a partition."""
        if limit < 0:
            raise PlanError(f"limit must not be negative, not {limit}")
        heap, state, ids = self._heap, self._state, self._ids
        started: list[str] = []
        while heap and heap[0] < stop and len(started) < limit:
            i = heapq.heappop(heap)
            state[i] = _RUNNING
            started.append(ids[i])
        self._pending -= len(started)
        self._running += len(started)
        return started

    def mark_done(self, task_ids: Iterable[str]) -> None:
        """Tasks that succeeded before (in an earlier run of the job, `durable_batch.batch.runs`): succeeded without
        being
        handed out, and their dependents count them as satisfied. Call it before any task is handed out."""
        indexes: list[int] = []
        for task_id in task_ids:
            i = self._index.get(task_id)
            if i is None:
                raise PlanError(f"task {task_id!r} is not scheduled here")
            if self._state[i] not in (_WAITING, _READY):
                raise PlanError(f"task {task_id!r} is {self.state_of(task_id)}, not pending")
            self._state[i] = _SUCCEEDED
            indexes.append(i)
        self._pending -= len(indexes)
        self._succeeded += len(indexes)
        for i in indexes:
            self._release(i)
        self._heap = [i for i in self._heap if self._state[i] == _READY]
        heapq.heapify(self._heap)

    def peek(self) -> str:
        """The task `ready` would hand out first; `PlanError` when none is ready."""
        if not self._heap:
            raise PlanError("no task is ready")
        return self._ids[self._heap[0]]

    @property
    def ready_count(self) -> int:
        """How many tasks `ready` could hand out now."""
        return len(self._heap)

    def release(self, task_id: str) -> None:
        """A running task was not started after all (its batch stopped before it): it is ready again."""
        i = self._running_task(task_id)
        self._state[i] = _READY
        self._running -= 1
        self._pending += 1
        heapq.heappush(self._heap, i)

    def mark_succeeded(self, task_id: str, *, satisfy: bool = True) -> list[str]:
        """The task succeeded; dependents whose dependencies have all been satisfied become ready. With
        `satisfy` False (an exit condition's `dependencyAction: block`) its dependents are skipped instead, as
        for a failure; returns the tasks skipped."""
        i = self._running_task(task_id)
        self._state[i] = _SUCCEEDED
        self._running -= 1
        self._succeeded += 1
        return self._release(i) if satisfy else self._skip_dependents(i)

    def mark_all_succeeded(self, task_ids: Iterable[str]) -> None:
        """`mark_succeeded` of each task, in order (each satisfies its dependents, so none is skipped), in one
        call: it runs for every task of every batch in every replay of a partition."""
        index, state, dependents = self._index, self._state, self._dependents
        done = 0
        try:
            for task_id in task_ids:
                i = index.get(task_id, -1)
                if i < 0 or state[i] != _RUNNING:
                    self._running_task(task_id)  # raises, and says why
                state[i] = _SUCCEEDED
                done += 1
                if dependents[i]:
                    self._release(i)
        finally:
            self._running -= done
            self._succeeded += done

    def mark_failed(self, task_id: str, *, satisfy: bool = False) -> list[str]:
        """The task failed for good. Returns the tasks this skips, all its direct and indirect dependents
        not skipped already, in task order. With `satisfy` (an exit condition's `dependencyAction:
        satisfy`) its dependents go on as if it had succeeded, and nothing is skipped."""
        i = self._running_task(task_id)
        self._state[i] = _FAILED
        self._running -= 1
        self._failed += 1
        return self._release(i) if satisfy else self._skip_dependents(i)

    def _release(self, i: int) -> list[str]:
        for j in self._dependents[i]:
            self._remaining[j] -= 1
            if self._remaining[j] == 0 and self._state[j] == _WAITING:
                self._state[j] = _READY
                heapq.heappush(self._heap, j)
        return []

    def _skip_dependents(self, i: int) -> list[str]:
        skipped: list[int] = []
        stack = [i]
        while stack:
            for j in self._dependents[stack.pop()]:
                # A dependent of a task that has not satisfied it can only be waiting or skipped already.
                if self._state[j] == _WAITING:
                    self._state[j] = _SKIPPED
                    skipped.append(j)
                    stack.append(j)
        return self._skip(skipped)

    def skip_all_pending(self) -> list[str]:
        """Skip every task not started yet; returns them in task order. Running tasks are left running."""
        self._heap.clear()
        skipped = [i for i, state in enumerate(self._state) if state in (_WAITING, _READY)]
        for i in skipped:
            self._state[i] = _SKIPPED
        return self._skip(skipped)

    def _skip(self, indexes: list[int]) -> list[str]:
        self._pending -= len(indexes)
        self._skipped += len(indexes)
        return [self._ids[i] for i in sorted(indexes)]

    def _running_task(self, task_id: str) -> int:
        i = self._index.get(task_id)
        if i is None:
            raise PlanError(f"task {task_id!r} is not scheduled here")
        if self._state[i] != _RUNNING:
            raise PlanError(f"task {task_id!r} is {self.state_of(task_id)}, not running")
        return i

    def state_of(self, task_id: str) -> TaskState:
        i = self._index.get(task_id)
        if i is None:
            raise PlanError(f"task {task_id!r} is not scheduled here")
        return _PUBLIC_STATE[self._state[i]]

    @property
    def has_ready(self) -> bool:
        """True when `ready` would return at least one task."""
        return bool(self._heap)

    @property
    def is_finished(self) -> bool:
        """True when every task succeeded, failed or was skipped."""
        return self._pending == 0 and self._running == 0

    @property
    def counts(self) -> TaskCounts:
        """Counts by state; `pending` includes ready tasks not handed out yet."""
        return TaskCounts(len(self._ids), self._pending, self._running, self._succeeded, self._failed, self._skipped)


class JobOutcome(NamedTuple):
    state: JobState
    reason: str


def job_outcome(
    total: int,
    succeeded: int,
    failed: int,
    skipped: int,
    tolerated_failure_percentage: float,
    terminated_early: bool,
    timed_out: bool,
    ended_early: bool = False,
    cancelled: int = 0,
) -> JobOutcome:
    """How a finished job ends: `failed` or `succeeded`, and a sentence that says why.

    The job fails when any of these holds (the reason names each that does):
    - `timed_out`: it ran past `maxWallClockSeconds`;
    - `terminated_early`: a task failed under `onTaskFailure: terminateJob`;
    - more failed tasks than tolerated: `failed * 100 > tolerated_failure_percentage * total`. Skipped tasks
      are not failures here (they are reported, though): with a tolerance of 0, one failure fails the job.
    Otherwise it succeeds. `ended_early` (a task's exit condition said `jobAction: terminate`) does not fail
    the job by itself: the tasks it kept from starting are skipped, and the reason says why. Every task
    must be counted once: the orchestrator counts a task that never started as skipped and one abandoned
    while running as failed. (Cancelled jobs end `cancelled`, decided by the orchestrator, not here;
    `cancelled` tasks, stopped by a cancel that raced the job's end, are reported like skipped ones.)
    """
    if min(total, succeeded, failed, skipped, cancelled) < 0 or succeeded + failed + skipped + cancelled != total:
        raise PlanError(
            f"task counts must each be counted once: {succeeded} succeeded + {failed} failed + "
            f"{skipped} skipped + {cancelled} cancelled != {total} total"
        )
    if not 0 <= tolerated_failure_percentage <= 100:
        raise PlanError(f"tolerated_failure_percentage must be 0..100, not {tolerated_failure_percentage}")
    summary = f"{succeeded} of {total} tasks succeeded, {failed} failed, {skipped} skipped"
    if cancelled:
        summary += f", {cancelled} cancelled"
    tolerance = f"{tolerated_failure_percentage:g}%"
    share = f"{failed * 100 / total:.3g}%" if total else "0%"
    reasons: list[str] = []
    if timed_out:
        reasons.append("the job ran longer than its maxWallClockSeconds")
    if terminated_early:
        reasons.append("a task failed and onTaskFailure is terminateJob")
    if failed * 100 > tolerated_failure_percentage * total:
        reasons.append(f"{failed} of {total} tasks failed ({share}), more than the tolerated {tolerance}")
    if reasons:
        if ended_early:
            reasons.insert(0, _ENDED_EARLY)
        return JobOutcome(JobState.FAILED, "; ".join(reasons) + f" ({summary})")
    if failed == 0 and skipped == 0 and cancelled == 0:
        return JobOutcome(JobState.SUCCEEDED, f"all {total} tasks succeeded")
    text = f"{summary}; {failed} failed ({share}) is within the tolerated {tolerance}"
    return JobOutcome(JobState.SUCCEEDED, f"{_ENDED_EARLY}; {text}" if ended_early else text)


_ENDED_EARLY = "a task's exit condition ended the job early (jobAction terminate)"
