"""The partition orchestrator: runs one partition of a job's tasks under its share of the parallelism cap.

Its tasks are numbered by position (0 .. size-1). It starts tasks as their dependencies succeed, in
**batches**: one RUN_BATCH activity call runs many short tasks of one chunk (`batch.batching` sizes them
from the durations earlier batches measured), and records them itself, so the history holds a few events
per batch, not per task. A batch holds task slots and runs that many of its tasks at once (sync handlers on
threads, `async def` handlers on an event loop, a command alone); the slots in use never exceed the
partition's share, so neither do the tasks running.
A batch of one short task (what `taskBatchSize: 1` gives, and a command measured shorter than a second) hands
its records back rather than write them (`wire.PARTITION_VERSION`): the partition writes those of many such
batches at once through SETTLE_TASKS, so such a task costs an activity call, not three storage round trips.
Failed attempts with retries left are retried after the job's retry interval (a durable timer). Tasks it
settles without running them (skipped, abandoned, cancelled) are recorded through SETTLE_TASKS. A task whose
exit condition says `jobAction: disable` has the job disabled through DISABLE_JOB: the partition starts
nothing while the call runs, and its batches read the job's record before their first task until a control
event has come after it.

Deterministic: no I/O, no wall clock (only `current_utc_datetime`), no randomness. Every decision comes from
the history, so a replay takes the same path.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import azure.durable_functions as df

from batch import wire
from batch.batching import LONG_TASK_SECONDS, PROBE_BATCHES, PROBE_WAIT_SECONDS, plan_batch
from batch.crashes import RELAUNCH_PAUSE_SECONDS, BatchFailures, process_death
from batch.permits import PermitQueue
from batch.plan import DagScheduler
from batch.records import CHUNK_SIZE, first_batch
from batch.slots import PERMIT_HORIZON_MS, Lease
from batch.spec import DependencyAction, JobAction, OnTaskFailure
from batch.states import TaskCounts
from orchestrators.control import Controls, awaiting, pool_of, share_of
from orchestrators.cost import StorageTally, cost_json

STORAGE_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=6)
"""The partition's own activities touch storage: a passing outage must not fail the partition."""
SETTLE_AT = 2_000
"""Settled tasks are written once this many have piled up (and always before the partition returns)."""
RECORD_AT = 64
"""Tasks handed back by batches (`wire.PARTITION_VERSION`) are written once this many have piled up, or when no
batch runs, or RECORD_WAIT_SECONDS after the first of them came (and always before the partition returns)."""
RECORD_WAIT_SECONDS = 1.0
SETTLE_AGAIN_SECONDS = 30.0
"""A SETTLE_TASKS call that failed through its retries (storage away for longer) is made again after this pause,
as often as it takes: the records it carries (tasks handed back, tasks settled) exist nowhere else."""


def event_reason(value: Any) -> str:
    """The reason a stop event carries. Raised through the SDK client, event data arrives JSON-encoded once
    more (protocol reference §2.12), so a quoted string is decoded."""
    if isinstance(value, str) and value.startswith('"'):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    return str(value or "cancel")


def _runs(tasks: list[tuple[int, int]]) -> list[wire.TaskRun]:
    """(position, attempt) pairs as [first, stop, attempt] runs."""
    runs: list[wire.TaskRun] = []
    for position, attempt in tasks:
        if runs and runs[-1][1] == position and runs[-1][2] == attempt:
            runs[-1][1] = position + 1
        else:
            runs.append([position, position + 1, attempt])
    return runs


def _ranges(positions: list[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for position in sorted(positions):
        if ranges and ranges[-1][1] == position:
            ranges[-1][1] = position + 1
        else:
            ranges.append([position, position + 1])
    return ranges


@dataclass
class _Flight:
    tasks: list[tuple[int, int]]
    slots: int
    kind: str
    controls: int = 0
    """Control events the partition had taken when it started the batch."""


@dataclass
class _Timing:
    """Measured task time per kind of task, summed from the batches that returned."""

    seconds: dict[str, float] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, busy_ms: int, ran: int) -> None:
        if ran > 0:
            self.seconds[kind] = self.seconds.get(kind, 0.0) + busy_ms / 1000
            self.tasks[kind] = self.tasks.get(kind, 0) + ran

    def mean(self, kind: str) -> float | None:
        count = self.tasks.get(kind, 0)
        return self.seconds[kind] / count if count else None


def marks_running(kind: str, mean: float | None, version: int) -> bool:
    """Whether a batch records its tasks `running` when it starts them: tasks measured longer than a second,
    and command tasks until one has been measured (a command may run for hours; before version 3, always)."""
    if kind == "command" and (mean is None or version < 3):
        return True
    return mean is not None and mean >= LONG_TASK_SECONDS


def partition_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, wire.PartitionResult]:
    spec = cast(wire.PartitionInput, context.get_input())
    job_id, partition = spec["jobId"], spec["partition"]
    run = spec.get("run", 1)
    base: dict[str, Any] = {
        "jobId": job_id,
        "specHash": spec["specHash"],
        "partition": partition,
        "partitionSize": spec["partitionSize"],
    }
    if run > 1:
        base["run"] = run
    share = max(1, spec["share"])
    # Batches of one short task hand their records back, to be written many at once (see the wire).
    version = spec.get("version", 1)
    # (From version 3, short command tasks too.)
    hands_back = {"handler"} if version == 2 else {"handler", "command"} if version >= 3 else set()
    moving: wire.PoolRef | None = None  # the pool the job moves to, once this partition's batches have ended
    controls = Controls(context)

    def take_share(data: Any) -> None:
        # A new share of the cap (0 while the job is disabled): batches in flight keep their slots until they
        # end; no batch starts while the slots in use are at or over the share.
        nonlocal share, moving
        new_share = share_of(data)
        share = share if new_share is None else new_share
        # Another pool: no batch starts until those in flight have ended and given the old pool's slots back.
        moved_to = pool_of(data)
        if moved_to is not None and (pool is None or moved_to["id"] != pool["id"]):
            moving = moved_to

    load = context.call_activity_with_retry(wire.LOAD_PARTITION, STORAGE_RETRY, base)
    plan: wire.PartitionPlan = yield from awaiting(context, load, controls, take_share)
    storage = StorageTally()  # what its activities reported, for the job's cost
    storage.add(plan)
    size = plan["size"]
    depends_on = [[str(d) for d in plan["dependsOn"].get(str(i), ())] for i in range(size)]
    scheduler = DagScheduler([str(i) for i in range(size)], depends_on)
    # A re-run: tasks that succeeded before are not run again, and satisfy their dependents.
    scheduler.mark_done(str(p) for first, stop in plan.get("done", ()) for p in range(first, stop))
    kinds = plan["kinds"]
    overrides = plan["retryOverrides"]
    interval = timedelta(seconds=plan["retryIntervalSeconds"])
    terminate_on_failure = spec["onTaskFailure"] == OnTaskFailure.TERMINATE_JOB.value
    stop_event = context.wait_for_external_event(wire.CANCEL_EVENT)
    deadline_text = spec.get("deadline")
    deadline = datetime.fromisoformat(deadline_text) if deadline_text else None
    deadline_timer = context.create_timer(deadline) if deadline is not None else None
    timing = _Timing()
    hint = spec.get("taskMs")
    if hint is not None:
        timing.add("handler", round(hint), 1)
    # The job's pool hands out the slots batches start on (`batch.slots`); without a pool (a history from
    # before pools) the share alone limits them.
    pool = spec.get("pool")
    pool_entity = df.EntityId(wire.POOL_ENTITY, pool["id"]) if pool is not None else None
    lease = Lease()
    exchanging: Any = None
    poll_timer: Any = None
    boundary = False
    # Tasks that count against a rate limit of the pool wait apart, holding no slot, for start permits.
    rate_keys: dict[str, str] = plan.get("rateKeys") or {}
    limited = PermitQueue(pool.get("rateLimits", {}) if pool is not None else {})
    rate_timer: Any = None

    def key_of(position: int) -> str | None:
        return rate_keys.get(str(position))

    def kind_of(position: int) -> str:
        return kinds.get(str(position), "handler")

    def retries_of(position: int) -> int:
        return overrides.get(str(position), plan["retries"])

    flights: dict[Any, _Flight] = {}  # RUN_BATCH task -> what it runs
    failures = BatchFailures()  # batches that returned no outcome, and the tasks that now run isolated
    backing_off: dict[Any, list[tuple[int, int]]] = {}  # retry timer -> (position, next attempt)
    again: list[tuple[int, int]] = []  # (position, attempt) to start before new tasks
    settling: list[Any] = []
    settle_requests: dict[Any, wire.SettleTasksInput] = {}  # SETTLE_TASKS task -> what it was given
    settle_again: tuple[Any, wire.SettleTasksInput] | None = None  # (timer, request) of a settle that failed
    to_skip: list[int] = []
    to_fail: list[list[Any]] = []
    to_cancel: list[list[Any]] = []
    failed_ids: list[str] = []
    moved: dict[str, int] = {}
    asked: list[tuple[int, int]] = []  # (failed, skipped) each settle call in flight was given, in order
    handed: list[wire.RanTask] = []  # records batches handed back, not written yet
    record_timer: Any = None
    record_due = False
    batches = first_batch(run)
    probe_timer: Any = None
    probes_timed_out = False
    terminated = timed_out = cancelled = stopping = False
    # A batch that stopped because its job's record says disabled (or stopping) may return before the new
    # share (or the stop event) reaches the partition: until then no batch starts, or it would stop too.
    holding = False
    # DISABLE_JOB asked for by an exit condition, and the control events taken when its return was seen. No
    # batch starts while the call runs. After it, until a control event comes (the disable's share of 0, or
    # one sent later, with the job's settings as they are then), a batch reads the job's record before its
    # first task: the job may be disabled while its share of 0 is on its way, or already enabled again.
    disabling: Any = None
    disabling_from: int | None = None
    if spec.get("skipAll"):
        # The job stopped before this partition started: its tasks are recorded as skipped, not lost.
        stopping = True
        to_skip.extend(int(t) for t in scheduler.skip_all_pending())

    def slots_in_use() -> int:
        return sum(flight.slots for flight in flights.values())

    def limit() -> int:
        """The slots the partition's batches may hold in all now: its share, and of those what its pool granted."""
        if moving is not None:
            return 0
        return share if pool is None else lease.limit(share)

    def exchange() -> None:
        """Give back slots no batch needs and ask for those ready tasks could use (see `batch.slots.Lease`)."""
        nonlocal exchanging, boundary
        if pool is None or pool_entity is None:
            return
        idle = stopping or moving is not None
        rates = limited.wanted() if rate_timer is None and not idle and share > 0 else {}
        # Rate-limited tasks count as far as their permits (in hand or asked for) can start them.
        ready = scheduler.ready_count + len(again) + limited.demand()
        desired = 0 if idle else min(share, slots_in_use() + ready)
        now_ms = round(context.current_utc_datetime.timestamp() * 1000)
        asked = lease.request(
            in_use=slots_in_use(), desired=desired, now_ms=now_ms, boundary=boundary, force=bool(rates)
        )
        boundary = False
        if asked is not None:
            request: wire.PoolExchange = {
                "pool": pool,
                "job": job_id,
                "holder": context.instance_id,
                "release": asked["release"],
                "want": asked["want"],
                "now": now_ms,
            }
            if rates:
                request["rates"] = rates
            if limited:
                request["limited"] = len(limited)
            exchanging = context.call_entity(pool_entity, "exchange", request)

    def launch(
        tasks: list[tuple[int, int]],
        slots: int,
        kind: str,
        mean: float | None,
        *,
        paced: list[float] | None = None,
        isolate: bool = False,
    ) -> None:
        nonlocal batches
        request: wire.RunBatchInput = {
            **base,  # type: ignore[typeddict-item]
            "batch": batches,
            "tasks": _runs(tasks),
            "concurrency": slots,
            "markRunning": marks_running(kind, mean, version),
        }
        if disabling_from is not None and controls.seen == disabling_from:
            request["checkFirst"] = True
        if paced is not None:
            request["paced"] = paced
        if isolate:
            request["isolate"] = True
        elif kind in hands_back and len(tasks) == 1 and not request["markRunning"]:
            request["handBack"] = True
        batches += 1
        # No SDK retry: it would run a batch that kills its process again and again. `failures` decides.
        task = context.call_activity(wire.RUN_BATCH, request)
        flights[task] = _Flight(tasks, slots, kind, controls.seen)

    def launch_paced() -> None:
        """Start the rate-limited tasks the pool's permits allow, on free slots (`batch.permits`)."""
        for group, paced in limited.batches(
            lambda: limit() - slots_in_use(),
            lambda a, b: kind_of(a) == kind_of(b),
            lambda first: kind_of(first) == "command",
        ):
            kind = kind_of(group[0][0])
            launch(group, max(1, min(len(group), limit() - slots_in_use())), kind, timing.mean(kind), paced=paced)

    def start_batches() -> None:
        nonlocal again
        if holding or (disabling is not None and disabling_from is None):
            return
        if lease.asking:
            # More slots asked for and on their way: their answer decides how the ready tasks are split into
            # batches (started now on the few slots held, they would run one after another).
            return
        # (A task isolated after its batch's process died runs alone, unpaced: isolation comes first.)
        for retry in [t for t in again if key_of(t[0]) is not None and not failures.is_isolated(t[0])]:
            again.remove(retry)
            limited.add(cast(str, key_of(retry[0])), [retry])
        launch_paced()
        while again and slots_in_use() < limit():
            # Retries go first, a chunk and a kind at a time (a batch is recorded in one chunk row).
            first, _ = again[0]
            kind = kind_of(first)
            alone = failures.is_isolated(first)  # an isolated batch runs its tasks one after another
            group = [
                t
                for t in again
                if t[0] // CHUNK_SIZE == first // CHUNK_SIZE
                and kind_of(t[0]) == kind
                and failures.is_isolated(t[0]) == alone
            ]
            group = group[:1] if kind == "command" else group
            again = [t for t in again if t not in group]
            mean = timing.mean(kind)
            if alone:
                slots = 1
            else:
                free = limit() - slots_in_use()
                slots = plan_batch(kind, mean, ready=len(group), free_slots=free, share=limit()).slots_for(len(group))
            launch(group, slots, kind, mean, isolate=alone)
        while scheduler.has_ready:
            first = int(scheduler.peek())
            key = key_of(first)
            if key is not None:
                # A rate-limited task waits for a permit apart, so the tasks behind it are not held up.
                limited.add(key, [(int(t), 1) for t in scheduler.ready_run(1, lambda a, b: False)])
                continue
            if slots_in_use() >= limit():
                break
            kind = kind_of(first)
            mean = timing.mean(kind)
            if probes_timed_out and mean is None:
                mean = PROBE_WAIT_SECONDS
            if kind == "handler" and mean is None and len(flights) >= PROBE_BATCHES and plan["batchSize"] is None:
                return  # wait for a probe to say how long tasks take
            sizing = plan_batch(
                kind,
                mean,
                ready=scheduler.ready_count,
                free_slots=limit() - slots_in_use(),
                share=limit(),
                fixed=plan["batchSize"],
            )
            end = (first // CHUNK_SIZE + 1) * CHUNK_SIZE

            def same(a: str, b: str, end: int = end) -> bool:
                return int(b) < end and kind_of(int(b)) == kind_of(int(a)) and key_of(int(b)) is None

            picked = scheduler.ready_run(sizing.size, same)
            chunk_busy = any(f.tasks[0][0] // CHUNK_SIZE == first // CHUNK_SIZE for f in flights.values())
            if chunk_busy and len(picked) < sizing.size and kind != "command":
                # A few tasks of a chunk that a batch is writing (dependents becoming ready a few at a time):
                # they wait for that batch, and go together, rather than race it for the chunk's row.
                for task in picked:
                    scheduler.release(task)
                return
            launch([(int(t), 1) for t in picked], sizing.slots_for(len(picked)), kind, mean)

    def final_counts() -> TaskCounts:
        """The scheduler's counts, corrected by how settled tasks were recorded: a batch abandoned by a
        cancel may have recorded its tasks (as succeeded, say) before they were settled as failed."""
        raw = scheduler.counts
        return TaskCounts(
            raw.total,
            raw.pending,
            raw.running,
            raw.succeeded + moved.get("succeeded", 0),
            raw.failed + moved.get("failed", 0),
            raw.skipped + moved.get("skipped", 0),
            moved.get("cancelled", 0),
        )

    def counts() -> TaskCounts:
        # Tasks handed to a batch wait their turn inside it: only as many run as the batches hold slots.
        raw = final_counts()
        running = min(raw.running, slots_in_use())
        return TaskCounts(
            raw.total,
            raw.pending + raw.running - running,
            running,
            raw.succeeded,
            raw.failed,
            raw.skipped,
            raw.cancelled,
        )

    def settle_due(final: bool) -> bool:
        if settling or settle_again is not None:
            return False
        pending = len(to_skip) + len(to_fail) + len(to_cancel)
        if pending > 0 and (final or pending >= SETTLE_AT):
            return True
        return bool(handed) and (final or record_due or not flights or len(handed) >= RECORD_AT)

    def settle() -> None:
        nonlocal batches, record_due
        request: wire.SettleTasksInput = {
            **base,  # type: ignore[typeddict-item]
            "skipped": _ranges(to_skip),
            "failed": list(to_fail),
            "cancelled": list(to_cancel),
        }
        if handed:
            # Those of one chunk (the rest go next), their results to a blob numbered as a batch's, which no
            # batch of this partition uses: a chunk's record says which blob holds each task's result.
            number = handed[0]["position"] // CHUNK_SIZE
            request["handedBack"] = [t for t in handed if t["position"] // CHUNK_SIZE == number]
            request["batch"] = batches
            batches += 1
            handed[:] = [t for t in handed if t["position"] // CHUNK_SIZE != number]
            record_due = bool(handed)
        # The scheduler counts a cancelled task as failed (its dependents are skipped): both come off `failed`.
        asked.append((len(to_fail) + len(to_cancel), len(to_skip)))
        to_skip.clear()
        to_fail.clear()
        to_cancel.clear()
        send_settle(request)

    def send_settle(request: wire.SettleTasksInput) -> None:
        task = context.call_activity_with_retry(wire.SETTLE_TASKS, STORAGE_RETRY, request)
        settling.append(task)
        settle_requests[task] = request

    def abandon(position: int, attempts: int, why: str) -> None:
        """Settle a task that will not run again: cancelled when the job was cancelled, else failed."""
        (to_cancel if cancelled else to_fail).append(
            [position, attempts, f"{'cancelled' if cancelled else 'abandoned'}: {why}"]
        )
        fail_for_good(position, None)

    def cancel_recorded(position: int) -> None:
        """A task its batch recorded as cancelled: the scheduler counts it as failed, the records do not."""
        fail_for_good(position, None)
        moved["failed"] = moved.get("failed", 0) - 1
        moved["cancelled"] = moved.get("cancelled", 0) + 1

    def terminate() -> None:
        nonlocal terminated, stopping
        if not stopping:
            terminated = stopping = True
            to_skip.extend(int(t) for t in scheduler.skip_all_pending())

    def disable() -> None:
        """An exit condition's `jobAction: disable`: one DISABLE_JOB call (a second action while it is in
        flight needs none of its own)."""
        nonlocal disabling, disabling_from
        if stopping or (disabling is not None and not disabling.is_completed):
            return
        request: wire.DisableJobInput = {"jobId": job_id, "partition": partition}
        disabling = context.call_activity_with_retry(wire.DISABLE_JOB, STORAGE_RETRY, request)
        disabling_from = None

    def fail_for_good(position: int, task_id: str | None, action: list[Any] | None = None) -> None:
        # An exit condition's actions, when it set any, decide instead of onTaskFailure and the default block.
        job_action, dependency_action = (action or [None, None, None])[1:]
        satisfy = dependency_action == DependencyAction.SATISFY.value
        to_skip.extend(int(t) for t in scheduler.mark_failed(str(position), satisfy=satisfy))
        if task_id is not None and len(failed_ids) < wire.MAX_LISTED_FAILURES:
            failed_ids.append(task_id)
        if terminate_on_failure if job_action is None else job_action == JobAction.TERMINATE.value:
            terminate()
        elif job_action == JobAction.DISABLE.value:
            disable()

    def succeed(position: int, action: list[Any] | None) -> None:
        job_action, dependency_action = (action or [None, None, None])[1:]
        satisfy = dependency_action != DependencyAction.BLOCK.value
        to_skip.extend(int(t) for t in scheduler.mark_succeeded(str(position), satisfy=satisfy))
        if job_action == JobAction.TERMINATE.value:
            terminate()
        elif job_action == JobAction.DISABLE.value:
            disable()

    while True:
        if moving is not None and not flights and exchanging is None:
            # Moved to another pool, with no batch running: the old pool gets back what it still counts for
            # this partition, and the new one is asked from now on (its rate limits too).
            if pool_entity is not None and lease.ever:
                context.signal_entity(pool_entity, "release", {"holders": [context.instance_id]})
            pool, moving = moving, None
            pool_entity, lease = df.EntityId(wire.POOL_ENTITY, pool["id"]), Lease()
            limited.rebase(pool.get("rateLimits", {}))
        # The pool first: what it is asked for (more slots, fewer) decides how ready tasks go out in batches.
        exchange()
        if not stopping:
            start_batches()
            if (
                not probes_timed_out
                and probe_timer is None
                and flights
                and timing.mean("handler") is None
                and plan["batchSize"] is None
            ):
                probe_timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=PROBE_WAIT_SECONDS))
        if exchanging is None:
            exchange()  # slots the batches just started did not take, given back when others wait for them
        for done in [s for s in settling if s.is_completed]:
            request = settle_requests.pop(done)
            if not isinstance(done.result, dict):
                # It failed through its retries: the same call again later (it is idempotent: handed-back
                # records carry their batch number, and a settled task's record does not go back).
                pause = context.current_utc_datetime + timedelta(seconds=SETTLE_AGAIN_SECONDS)
                settle_again = (context.create_timer(pause), request)
                continue
            settled = cast(wire.SettleOutcome, done.result)
            storage.add(settled)
            failed_ids.extend(settled["failedIds"][: max(0, wire.MAX_LISTED_FAILURES - len(failed_ids))])
            # What was asked comes off the counts, what was recorded goes on (see `final_counts`).
            asked_failed, asked_skipped = asked.pop(0)
            moved["failed"] = moved.get("failed", 0) - asked_failed
            moved["skipped"] = moved.get("skipped", 0) - asked_skipped
            for state, count in settled["recorded"].items():
                moved[state] = moved.get(state, 0) + count
        settling = [s for s in settling if not s.is_completed]
        # A partition waits for its DISABLE_JOB call, so the disable is applied (or found needless) while the
        # job runs, never raced by the job's end.
        asking = disabling is not None and not disabling.is_completed
        finished = (
            scheduler.is_finished
            and not flights
            and not backing_off
            and not again
            and not asking
            and not exchanging
            and not limited
        )
        if settle_due(finished or stopping):
            settle()
        if finished and not settling and not handed and settle_again is None:
            break
        if not context.is_replaying:
            # Only the episode's last status is kept: a replayed step's would be overwritten, so none is made.
            status: dict[str, Any] = {
                "taskCounts": counts().to_json(),
                "share": share,
                "cost": cost_json(context, storage.cost),
            }
            if pool is not None:
                status["slots"] = lease.held
            context.set_custom_status(status)
        waiting = [*flights, *backing_off, *settling, *([disabling] if asking else [])]
        if settle_again is not None:
            waiting.append(settle_again[0])
        if exchanging is not None:
            waiting.append(exchanging)
        if poll_timer is not None:
            waiting.append(poll_timer)
        if rate_timer is not None and not stopping:
            waiting.append(rate_timer)
        if handed and flights and record_timer is None:
            record_timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=RECORD_WAIT_SECONDS))
        if record_timer is not None:
            waiting.append(record_timer)
        if not stopping:
            waiting.append(stop_event)
            waiting.append(controls.waiting)
            if deadline_timer is not None:
                waiting.append(deadline_timer)
            if probe_timer is not None and not probe_timer.is_completed and timing.mean("handler") is None:
                waiting.append(probe_timer)
        yield context.task_any(waiting)

        if probe_timer is not None and probe_timer.is_completed and timing.mean("handler") is None:
            probes_timed_out = True
        if exchanging is not None and exchanging.is_completed:
            lease.answered(exchanging.result)
            limited.granted(exchanging.result.get("permits") if isinstance(exchanging.result, dict) else None)
            exchanging = None
            if limited and rate_timer is None:
                # Ask for the next permits about when these run out (half the horizon: they come in time).
                rate_timer = context.create_timer(
                    context.current_utc_datetime + timedelta(milliseconds=PERMIT_HORIZON_MS // 2)
                )
            if lease.waiting and poll_timer is None:
                delay = timedelta(milliseconds=lease.poll_delay_ms())
                poll_timer = context.create_timer(context.current_utc_datetime + delay)
        if poll_timer is not None and poll_timer.is_completed:
            poll_timer = None
            lease.poll_fired()
        if rate_timer is not None and rate_timer.is_completed:
            rate_timer = None
        if record_timer is not None and record_timer.is_completed:
            record_timer, record_due = None, True
        if settle_again is not None and settle_again[0].is_completed:
            send_settle(settle_again[1])
            settle_again = None
        came, data = controls.take()
        if came:
            take_share(data)
            holding = False
        if disabling is not None and disabling.is_completed and disabling_from is None:
            disabling_from = controls.seen
        for timer in [t for t in backing_off if t.is_completed]:
            again.extend(backing_off.pop(timer))
        for activity in [a for a in flights if a.is_completed]:
            flight = flights.pop(activity)
            boundary = True
            outcome = activity.result
            storage.add(outcome)
            if isinstance(outcome, Exception) or not isinstance(outcome, dict) or "interrupted" in outcome:
                # No outcome: its process died (its tasks run again isolated), or it could not run at all
                # (storage away, a spec replaced: it runs again after a pause), up to a bound (batch.crashes).
                if isinstance(outcome, dict):
                    why = str(outcome["interrupted"])
                    recovery = failures.died(flight.tasks, process_death(why) or why)
                else:
                    recovery = failures.failed(flight.tasks, str(outcome))
                again.extend(recovery.isolated)
                if recovery.later:
                    pause = context.current_utc_datetime + timedelta(seconds=RELAUNCH_PAUSE_SECONDS)
                    backing_off[context.create_timer(pause)] = recovery.later
                for position, attempt, error in recovery.failed:
                    to_fail.append([position, attempt, error])
                    fail_for_good(position, None)
                continue
            timing.add(flight.kind, outcome["busyMs"], outcome["ran"])
            handed.extend(outcome.get("handedBack", ()))
            actions = {int(action[0]): action for action in outcome.get("actions", ())}
            if outcome.get("held") and flight.controls == controls.seen:
                holding = True
            unsettled: set[int] = set()
            retry_now: list[tuple[int, int]] = []
            not_started: list[tuple[int, int]] = []
            for position, attempts in outcome["retry"]:
                unsettled.add(position)
                if stopping or attempts > retries_of(position):
                    abandon(position, attempts, "the job stopped before its retry")
                else:
                    retry_now.append((position, attempts + 1))
            for position, _attempts, task_id in outcome["failed"]:
                unsettled.add(position)
                fail_for_good(position, task_id, actions.get(position))
            for position, _attempts in outcome.get("cancelled") or ():
                unsettled.add(position)
                cancel_recorded(position)
            for position, _state in outcome["other"]:
                # Not run: the batch stopped early (a task failed under terminateJob). A first attempt goes back
                # to the ready tasks, a retry to the retries; a stopped job skips or abandons them.
                unsettled.add(position)
                attempt = dict(flight.tasks).get(position, 1)
                if attempt == 1:
                    scheduler.release(str(position))
                elif stopping:
                    abandon(position, attempt - 1, "the job stopped before its retry")
                else:
                    not_started.append((position, attempt))
            for position, _ in flight.tasks:
                if position not in unsettled:
                    succeed(position, actions.get(position))
            if retry_now and interval > timedelta(0):
                backing_off[context.create_timer(context.current_utc_datetime + interval)] = retry_now
            else:
                again.extend(retry_now)
            again.extend(not_started)
            if stopping:
                to_skip.extend(int(t) for t in scheduler.skip_all_pending())

        if not stopping and stop_event.is_completed:
            stopping = True
            cancelled = event_reason(stop_event.result) == "cancel"
            to_skip.extend(int(t) for t in scheduler.skip_all_pending())
        if not stopping and deadline_timer is not None and deadline_timer.is_completed:
            stopping = timed_out = True
            to_skip.extend(int(t) for t in scheduler.skip_all_pending())
        if stopping:
            # Nobody starts a retry of a stopped job; a cancelled or timed-out job abandons what runs now
            # (command tasks are killed by their activity, which watches the job record).
            why = "the job stopped"
            if cancelled:
                why = "the job was cancelled"
            elif timed_out:
                why = "the job ran past maxWallClockSeconds"
            waiting_tasks = [(p, a - 1) for tasks in backing_off.values() for p, a in tasks]
            waiting_tasks += [(p, a - 1) for p, a in again]
            # Rate-limited tasks never started: a first attempt is skipped as any task not started, a retry is
            # abandoned as the other waiting retries are.
            for p, a in limited.drain():
                if a == 1:
                    scheduler.release(str(p))
                else:
                    waiting_tasks.append((p, a - 1))
            to_skip.extend(int(t) for t in scheduler.skip_all_pending())
            if cancelled or timed_out:
                # A cancelled command is killed by its activity, which then returns: the partition waits for
                # it, so a job is `cancelled` only once its commands are dead. Other batches are abandoned.
                keep = {a: f for a, f in flights.items() if cancelled and f.kind == "command"}
                waiting_tasks += [t for a, f in flights.items() if a not in keep for t in f.tasks]
                flights = keep
            for position, attempts in waiting_tasks:
                abandon(position, max(0, attempts), why)
            backing_off.clear()
            again.clear()

    releasing = pool_entity is not None and lease.ever
    if releasing:
        # Whatever it still holds (or waits for) is the pool's again.
        context.signal_entity(pool_entity, "release", {"holders": [context.instance_id]})
    return {
        "partition": partition,
        "taskCounts": final_counts().to_json(),
        "cost": cost_json(context, storage.cost, returning=True, signals=1 if releasing else 0),
        "failedTasks": failed_ids,
        "terminated": terminated,
        "timedOut": timed_out,
        "cancelled": cancelled,
        "taskMs": None if timing.mean("handler") is None else cast(float, timing.mean("handler")) * 1000,
    }
