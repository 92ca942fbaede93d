"""What a partition decides, as a pure object: which batches to start on which slots, what to record, when to
ask the pool, when to stop, and how the partition ends.

`durable_batch.orchestrators.partition` drives it. The scheduler never sees a durable task: it hands out **tickets**
(ints) with the commands it wants made (`Call`, `Timer`, `EntityCall`, `Signal`), the orchestrator makes each and tells
it, after every wait, the results of the tickets that completed (`results`) and what came from outside (a
control event, a stop, the deadline). Each step is the partition's loop of before:

    scheduler.step(now)                 the top of the loop: pool, batches, records; returns True when done
    scheduler.waiting()                 what to wait for, in order (tickets and the names of the fixed waits)
    ... the orchestrator waits, and puts each completed ticket's result in `scheduler.results` ...
    scheduler.after_wait(now, ...)      everything that came, in the order it is applied

The order of commands and of `waiting()` is the order in which the orchestrator creates and yields durable
tasks, so it decides their sequence numbers: it is part of every recorded history and must not change for a
running partition (tests/unit/orchestrators/test_recorded_histories.py).

Deterministic: no I/O, no clock of its own (the time is given), no randomness.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from durable_batch.batch import wire
from durable_batch.batch.batching import LONG_TASK_SECONDS, PROBE_BATCHES, PROBE_WAIT_SECONDS, plan_batch
from durable_batch.batch.crashes import RELAUNCH_PAUSE_SECONDS, BatchFailures, process_death
from durable_batch.batch.partition_commands import CONTROLS, DEADLINE, STOP, Call, Command, EntityCall, Signal, Timer
from durable_batch.batch.partition_records import RECORD_WAIT_SECONDS, SETTLE_AGAIN_SECONDS, RecordsOwed
from durable_batch.batch.permits import PermitQueue
from durable_batch.batch.plan import DagScheduler
from durable_batch.batch.records import CHUNK_SIZE, first_batch
from durable_batch.batch.slots import PERMIT_HORIZON_MS, Lease
from durable_batch.batch.spec import DependencyAction, JobAction, OnTaskFailure
from durable_batch.batch.states import TaskCounts


def marks_running(kind: str, mean: float | None, version: int) -> bool:
    """Whether a batch records its tasks `running` when it starts them: tasks measured longer than a second,
    and command tasks until one has been measured (a command may run for hours; before version 3, always)."""
    if kind == "command" and (mean is None or version < 3):
        return True
    return mean is not None and mean >= LONG_TASK_SECONDS


@functools.lru_cache(maxsize=8)
def _position_ids(size: int) -> tuple[str, ...]:
    """A partition's tasks as its scheduler names them, by position: the same few sizes at every step of every
    partition's replay."""
    return tuple(str(i) for i in range(size))


def _runs(tasks: list[tuple[int, int]]) -> list[wire.TaskRun]:
    """(position, attempt) pairs as [first, stop, attempt] runs."""
    runs: list[wire.TaskRun] = []
    for position, attempt in tasks:
        if runs and runs[-1][1] == position and runs[-1][2] == attempt:
            runs[-1][1] = position + 1
        else:
            runs.append([position, position + 1, attempt])
    return runs


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


def _failed(result: Any) -> bool:
    """Whether a call's result is its failure (the SDK hands a failed task's exception as its result)."""
    return isinstance(result, Exception)


class PartitionScheduler:
    """The decisions of one partition's run (see the module). `spec` is the partition's input, `plan` what
    LOAD_PARTITION answered (or the one its input gave), `holder` the partition's instance id (its name at the
    pool), `seen` the control events taken before the plan came."""

    def __init__(self, spec: wire.PartitionInput, plan: wire.PartitionPlan, holder: str, seen: int = 0) -> None:
        self.job_id, self.partition = spec["jobId"], spec["partition"]
        self.holder = holder
        run = spec.get("run", 1)
        self.base: dict[str, Any] = {
            "jobId": self.job_id,
            "specHash": spec["specHash"],
            "partition": self.partition,
            "partitionSize": spec["partitionSize"],
        }
        if run > 1:
            self.base["run"] = run
        self.share = max(1, spec["share"])
        # Batches of one short task hand their records back, to be written many at once (see the wire).
        self.version = spec.get("version", 1)
        # (From version 3, short command tasks too.)
        self.hands_back = {"handler"} if self.version == 2 else {"handler", "command"} if self.version >= 3 else set()
        self.moving: wire.PoolRef | None = None  # the pool the job moves to, once its batches here have ended
        self.seen = seen
        self.plan = plan
        size = plan["size"]
        edges = plan["dependsOn"]
        depends_on = [[str(d) for d in edges.get(str(i), ())] for i in range(size)] if edges else [[]] * size
        self.scheduler = DagScheduler(_position_ids(size), depends_on)
        # A re-run: tasks that succeeded before are not run again, and satisfy their dependents.
        self.scheduler.mark_done(str(p) for first, stop in plan.get("done", ()) for p in range(first, stop))
        self.kinds = plan["kinds"]
        self.overrides = plan["retryOverrides"]
        self.interval = timedelta(seconds=plan["retryIntervalSeconds"])
        self.terminate_on_failure = spec["onTaskFailure"] == OnTaskFailure.TERMINATE_JOB.value
        self.has_deadline = bool(spec.get("deadline"))
        self.timing = _Timing()
        hint = spec.get("taskMs")
        if hint is not None:
            self.timing.add("handler", round(hint), 1)
        # Commands measured by earlier partitions: short ones are handed back from the first, not each recorded
        # `running` until this partition has measured one of its own (`marks_running`).
        command_hint = spec.get("commandMs")
        if command_hint is not None:
            self.timing.add("command", round(command_hint), 1)
        # The job's pool hands out the slots batches start on (`durable_batch.batch.slots`); without a pool (a history
        # from before pools) the share alone limits them.
        self.pool: wire.PoolRef | None = spec.get("pool")
        self.lease = Lease()
        self.exchanging: int | None = None
        self.poll_timer: int | None = None
        self.boundary = False
        # Tasks that count against a rate limit of the pool wait apart, holding no slot, for start permits.
        self.rate_keys: dict[str, str] = plan.get("rateKeys") or {}
        self.limited = PermitQueue(self.pool.get("rateLimits", {}) if self.pool is not None else {})
        self.rate_timer: int | None = None
        self.flights: dict[int, _Flight] = {}  # RUN_BATCH ticket -> what it runs
        self._in_use = 0  # the slots the flights hold, summed (asked for many times a step, in every replay)
        self.failures = BatchFailures()  # batches that returned no outcome, and the tasks that now run isolated
        self.backing_off: dict[int, list[tuple[int, int]]] = {}  # retry timer -> (position, next attempt)
        self.again: list[tuple[int, int]] = []  # (position, attempt) to start before new tasks
        self.settling: list[int] = []
        self.settle_requests: dict[int, wire.SettleTasksInput] = {}  # SETTLE_TASKS ticket -> what it was given
        self.settle_again: tuple[int, wire.SettleTasksInput] | None = None  # (timer, request) of a failed settle
        self.owed = RecordsOwed()
        self.failed_ids: list[str] = []
        self.record_timer: int | None = None
        self.batches = first_batch(run)
        self.probe_timer: int | None = None
        self.probes_timed_out = False
        self.terminated = self.timed_out = self.cancelled = self.stopping = False
        # A batch that stopped because its job's record says disabled (or stopping) may return before the new
        # share (or the stop event) reaches the partition: until then no batch starts, or it would stop too.
        self.holding = False
        # DISABLE_JOB asked for by an exit condition, and the control events taken when its return was seen. No
        # batch starts while the call runs. After it, until a control event comes (the disable's share of 0, or
        # one sent later, with the job's settings as they are then), a batch reads the job's record before its
        # first task: the job may be disabled while its share of 0 is on its way, or already enabled again.
        self.disabling: int | None = None
        self.disabling_from: int | None = None
        self.results: dict[int, Any] = {}
        """The results of the tickets that completed (a failed call's: its exception), put by the driver."""
        self.commands: list[Command] = []
        """Commands not yet made by the driver, in order."""
        self._tickets = 0
        if spec.get("skipAll"):
            # The job stopped before this partition started: its tasks are recorded as skipped, not lost.
            self.stopping = True
            self.owed.skip.extend(int(t) for t in self.scheduler.skip_all_pending())

    # -- commands ---------------------------------------------------------------------------------------------

    def _ticket(self) -> int:
        self._tickets += 1
        return self._tickets

    def _call(self, name: str, value: Any, *, retry: bool) -> int:
        ticket = self._ticket()
        self.commands.append(Call(ticket, name, value, retry))
        return ticket

    def _timer(self, at: datetime) -> int:
        ticket = self._ticket()
        self.commands.append(Timer(ticket, at))
        return ticket

    def take_commands(self) -> list[Command]:
        """The commands to make now, in order (each once)."""
        commands, self.commands = self.commands, []
        return commands

    def _done(self, ticket: int | None) -> bool:
        return ticket is not None and ticket in self.results

    # -- what it knows ----------------------------------------------------------------------------------------

    def _key_of(self, position: int) -> str | None:
        return self.rate_keys.get(str(position))

    def _kind_of(self, position: int) -> str:
        return self.kinds.get(str(position), "handler")

    def _retries_of(self, position: int) -> int:
        return self.overrides.get(str(position), self.plan["retries"])

    def slots_in_use(self) -> int:
        return self._in_use

    def limit(self) -> int:
        """The slots the partition's batches may hold in all now: its share, and of those what its pool granted."""
        if self.moving is not None:
            return 0
        return self.share if self.pool is None else self.lease.limit(self.share)

    def take_control(self, share: int | None, pool: wire.PoolRef | None) -> None:
        """A control event: a new share of the cap (0 while the job is disabled; None: unchanged), and the pool
        the job moves to (None: it stays)."""
        # Batches in flight keep their slots until they end; no batch starts while the slots in use are at or
        # over the share.
        self.share = self.share if share is None else share
        # Another pool: no batch starts until those in flight have ended and given the old pool's slots back.
        if pool is not None and (self.pool is None or pool["id"] != self.pool["id"]):
            self.moving = pool

    def final_counts(self) -> TaskCounts:
        """The counts the partition returns: its scheduler's, as the records hold them."""
        return self.owed.counts(self.scheduler.counts)

    def counts(self) -> TaskCounts:
        """The counts to show while it runs: tasks handed to a batch wait their turn inside it, so only as many
        run as the batches hold slots."""
        raw = self.final_counts()
        running = min(raw.running, self.slots_in_use())
        return TaskCounts(
            raw.total,
            raw.pending + raw.running - running,
            running,
            raw.succeeded,
            raw.failed,
            raw.skipped,
            raw.cancelled,
        )

    def status(self, cost: Any) -> dict[str, Any]:
        """The custom status of a running partition."""
        status: dict[str, Any] = {"taskCounts": self.counts().to_json(), "share": self.share, "cost": cost}
        if self.pool is not None:
            status["slots"] = self.lease.held
        return status

    # -- the pool ---------------------------------------------------------------------------------------------

    def _exchange(self, now: datetime) -> None:
        """Give back slots no batch needs and ask for those ready tasks could use (see
        `durable_batch.batch.slots.Lease`)."""
        if self.pool is None:
            return
        idle = self.stopping or self.moving is not None
        rates = self.limited.wanted() if self.rate_timer is None and not idle and self.share > 0 else {}
        # Rate-limited tasks count as far as their permits (in hand or asked for) can start them.
        ready = self.scheduler.ready_count + len(self.again) + self.limited.demand()
        desired = 0 if idle else min(self.share, self.slots_in_use() + ready)
        now_ms = round(now.timestamp() * 1000)
        asked = self.lease.request(
            in_use=self.slots_in_use(), desired=desired, now_ms=now_ms, boundary=self.boundary, force=bool(rates)
        )
        self.boundary = False
        if asked is not None:
            request: wire.PoolExchange = {
                "pool": self.pool,
                "job": self.job_id,
                "holder": self.holder,
                "release": asked["release"],
                "want": asked["want"],
                "now": now_ms,
            }
            if rates:
                request["rates"] = rates
            if self.limited:
                request["limited"] = len(self.limited)
            self.exchanging = self._ticket()
            self.commands.append(EntityCall(self.exchanging, self.pool["id"], "exchange", request))

    def _release(self) -> None:
        """Whatever the partition still holds (or waits for) at its pool is the pool's again."""
        assert self.pool is not None
        self.commands.append(Signal(self.pool["id"], "release", {"holders": [self.holder]}))

    # -- batches ----------------------------------------------------------------------------------------------

    def _launch(
        self,
        tasks: list[tuple[int, int]],
        slots: int,
        kind: str,
        mean: float | None,
        *,
        paced: list[float] | None = None,
        isolate: bool = False,
    ) -> None:
        request: wire.RunBatchInput = {
            **self.base,  # type: ignore[typeddict-item]
            "batch": self.batches,
            "tasks": _runs(tasks),
            "concurrency": slots,
            "markRunning": marks_running(kind, mean, self.version),
        }
        if self.disabling_from is not None and self.seen == self.disabling_from:
            request["checkFirst"] = True
        if paced is not None:
            request["paced"] = paced
        if isolate:
            request["isolate"] = True
        elif kind in self.hands_back and len(tasks) == 1 and not request["markRunning"]:
            request["handBack"] = True
        self.batches += 1
        # No retry policy: it would run a batch that kills its process again and again. `failures` decides.
        ticket = self._call(wire.RUN_BATCH, request, retry=False)
        self.flights[ticket] = _Flight(tasks, slots, kind, self.seen)
        self._in_use += slots

    def _launch_paced(self) -> None:
        """Start the rate-limited tasks the pool's permits allow, on free slots (`durable_batch.batch.permits`)."""
        if not self.limited:
            self.limited.permits.clear()  # what `batches` does when no task waits: permits left lapse
            return
        for group, paced in self.limited.batches(
            lambda: self.limit() - self.slots_in_use(),
            lambda a, b: self._kind_of(a) == self._kind_of(b),
            lambda first: self._kind_of(first) == "command",
        ):
            kind = self._kind_of(group[0][0])
            slots = max(1, min(len(group), self.limit() - self.slots_in_use()))
            self._launch(group, slots, kind, self.timing.mean(kind), paced=paced)

    def _start_batches(self) -> None:
        if self.holding or (self.disabling is not None and self.disabling_from is None):
            return
        if self.lease.asking:
            # More slots asked for and on their way: their answer decides how the ready tasks are split into
            # batches (started now on the few slots held, they would run one after another).
            return
        failures = self.failures
        # (A task isolated after its batch's process died runs alone, unpaced: isolation comes first.)
        for retry in [t for t in self.again if self._key_of(t[0]) is not None and not failures.is_isolated(t[0])]:
            self.again.remove(retry)
            self.limited.add(cast(str, self._key_of(retry[0])), [retry])
        self._launch_paced()
        while self.again and self.slots_in_use() < self.limit():
            # Retries go first, a chunk and a kind at a time (a batch is recorded in one chunk row).
            first, _ = self.again[0]
            kind = self._kind_of(first)
            alone = failures.is_isolated(first)  # an isolated batch runs its tasks one after another
            group = [
                t
                for t in self.again
                if t[0] // CHUNK_SIZE == first // CHUNK_SIZE
                and self._kind_of(t[0]) == kind
                and failures.is_isolated(t[0]) == alone
            ]
            group = group[:1] if kind == "command" else group
            self.again = [t for t in self.again if t not in group]
            mean = self.timing.mean(kind)
            if alone:
                slots = 1
            else:
                free = self.limit() - self.slots_in_use()
                sizing = plan_batch(kind, mean, ready=len(group), free_slots=free, share=self.limit())
                slots = sizing.slots_for(len(group))
            self._launch(group, slots, kind, mean, isolate=alone)
        scheduler = self.scheduler
        while scheduler.has_ready:
            first = int(scheduler.peek())
            key = self._key_of(first)
            if key is not None:
                # A rate-limited task waits for a permit apart, so the tasks behind it are not held up.
                self.limited.add(key, [(int(t), 1) for t in scheduler.ready_run(1, lambda a, b: False)])
                continue
            if self.slots_in_use() >= self.limit():
                break
            kind = self._kind_of(first)
            mean = self.timing.mean(kind)
            if self.probes_timed_out and mean is None:
                mean = PROBE_WAIT_SECONDS
            probing = kind == "handler" and mean is None and self.plan["batchSize"] is None
            if probing and len(self.flights) >= PROBE_BATCHES:
                return  # wait for a probe to say how long tasks take
            sizing = plan_batch(
                kind,
                mean,
                ready=scheduler.ready_count,
                free_slots=self.limit() - self.slots_in_use(),
                share=self.limit(),
                fixed=self.plan["batchSize"],
            )
            end = (first // CHUNK_SIZE + 1) * CHUNK_SIZE

            # Once for every task of every batch in every replay: kinds and rate keys are keyed by the position's
            # text, which is the task's id in the scheduler.
            def same(
                _first: str,
                b: str,
                end: int = end,
                kind: str = kind,
                kinds: Mapping[str, str] = self.kinds,
                keys: Mapping[str, str] = self.rate_keys,
            ) -> bool:
                return int(b) < end and kinds.get(b, "handler") == kind and b not in keys

            if self.kinds or self.rate_keys:
                picked = scheduler.ready_run(sizing.size, same)
            else:  # every task a handler task without a rate limit: `same` only asks for the chunk
                picked = scheduler.ready_below(sizing.size, end)
            chunk_busy = any(f.tasks[0][0] // CHUNK_SIZE == first // CHUNK_SIZE for f in self.flights.values())
            if chunk_busy and len(picked) < sizing.size and kind != "command":
                # A few tasks of a chunk that a batch is writing (dependents becoming ready a few at a time):
                # they wait for that batch, and go together, rather than race it for the chunk's row.
                for task in picked:
                    scheduler.release(task)
                return
            self._launch([(int(t), 1) for t in picked], sizing.slots_for(len(picked)), kind, mean)

    # -- records ----------------------------------------------------------------------------------------------

    def _settle(self) -> None:
        request, numbered = self.owed.request(self.base, self.batches)
        if numbered:
            self.batches += 1
        self._send_settle(request)

    def _send_settle(self, request: wire.SettleTasksInput) -> None:
        ticket = self._call(wire.SETTLE_TASKS, request, retry=True)
        self.settling.append(ticket)
        self.settle_requests[ticket] = request

    def _settled(self, ticket: int, now: datetime) -> None:
        request = self.settle_requests.pop(ticket)
        result = self.results[ticket]
        if not isinstance(result, dict):
            # It failed through its retries: the same call again later (it is idempotent: handed-back
            # records carry their batch number, and a settled task's record does not go back).
            self.settle_again = (self._timer(now + timedelta(seconds=SETTLE_AGAIN_SECONDS)), request)
            return
        settled = cast(wire.SettleOutcome, result)
        room = max(0, wire.MAX_LISTED_FAILURES - len(self.failed_ids))
        self.failed_ids.extend(settled["failedIds"][:room])
        self.owed.recorded(settled)

    # -- outcomes ---------------------------------------------------------------------------------------------

    def _abandon(self, position: int, attempts: int, why: str) -> None:
        """Settle a task that will not run again: cancelled when the job was cancelled, else failed."""
        word = "cancelled" if self.cancelled else "abandoned"
        (self.owed.cancel if self.cancelled else self.owed.fail).append([position, attempts, f"{word}: {why}"])
        self._fail_for_good(position, None)

    def _cancel_recorded(self, position: int) -> None:
        """A task its batch recorded as cancelled: the scheduler counts it as failed, the records do not."""
        self._fail_for_good(position, None)
        self.owed.cancel_recorded()

    def _terminate(self) -> None:
        if not self.stopping:
            self.terminated = self.stopping = True
            self.owed.skip.extend(int(t) for t in self.scheduler.skip_all_pending())

    def _disable(self) -> None:
        """An exit condition's `jobAction: disable`: one DISABLE_JOB call (a second action while it is in
        flight needs none of its own)."""
        if self.stopping or (self.disabling is not None and not self._done(self.disabling)):
            return
        request: wire.DisableJobInput = {"jobId": self.job_id, "partition": self.partition}
        self.disabling = self._call(wire.DISABLE_JOB, request, retry=True)
        self.disabling_from = None

    def _fail_for_good(self, position: int, task_id: str | None, action: list[Any] | None = None) -> None:
        # An exit condition's actions, when it set any, decide instead of onTaskFailure and the default block.
        job_action, dependency_action = (action or [None, None, None])[1:]
        satisfy = dependency_action == DependencyAction.SATISFY.value
        self.owed.skip.extend(int(t) for t in self.scheduler.mark_failed(str(position), satisfy=satisfy))
        if task_id is not None and len(self.failed_ids) < wire.MAX_LISTED_FAILURES:
            self.failed_ids.append(task_id)
        if self.terminate_on_failure if job_action is None else job_action == JobAction.TERMINATE.value:
            self._terminate()
        elif job_action == JobAction.DISABLE.value:
            self._disable()

    def _succeed(self, position: int, action: list[Any] | None) -> None:
        if action is None:  # most tasks, once a step for every task of every batch in every replay: kept short
            skipped = self.scheduler.mark_succeeded(str(position))
            if skipped:
                self.owed.skip.extend(int(t) for t in skipped)
            return
        job_action, dependency_action = action[1:]
        satisfy = dependency_action != DependencyAction.BLOCK.value
        self.owed.skip.extend(int(t) for t in self.scheduler.mark_succeeded(str(position), satisfy=satisfy))
        if job_action == JobAction.TERMINATE.value:
            self._terminate()
        elif job_action == JobAction.DISABLE.value:
            self._disable()

    def _returned(self, ticket: int, now: datetime) -> None:
        """A batch returned: what became of each of its tasks."""
        flight = self.flights.pop(ticket)
        self._in_use -= flight.slots
        self.boundary = True
        outcome = self.results[ticket]
        if _failed(outcome) or not isinstance(outcome, dict) or "interrupted" in outcome:
            # No outcome: its process died (its tasks run again isolated), or it could not run at all
            # (storage away, a spec replaced: it runs again after a pause), up to a bound (durable_batch.batch.crashes).
            if isinstance(outcome, dict):
                why = str(outcome["interrupted"])
                recovery = self.failures.died(flight.tasks, process_death(why) or why)
            else:
                recovery = self.failures.failed(flight.tasks, str(outcome))
            self.again.extend(recovery.isolated)
            if recovery.later:
                pause = now + timedelta(seconds=RELAUNCH_PAUSE_SECONDS)
                self.backing_off[self._timer(pause)] = recovery.later
            for position, attempt, error in recovery.failed:
                self.owed.fail.append([position, attempt, error])
                self._fail_for_good(position, None)
            return
        self.timing.add(flight.kind, outcome["busyMs"], outcome["ran"])
        self.owed.handed.extend(outcome.get("handedBack", ()))
        actions = {int(action[0]): action for action in outcome.get("actions", ())}
        if outcome.get("held") and flight.controls == self.seen:
            self.holding = True
        unsettled: set[int] = set()
        retry_now: list[tuple[int, int]] = []
        not_started: list[tuple[int, int]] = []
        for position, attempts in outcome["retry"]:
            unsettled.add(position)
            if self.stopping or attempts > self._retries_of(position):
                self._abandon(position, attempts, "the job stopped before its retry")
            else:
                retry_now.append((position, attempts + 1))
        for position, _attempts, task_id in outcome["failed"]:
            unsettled.add(position)
            self._fail_for_good(position, task_id, actions.get(position))
        for position, _attempts in outcome.get("cancelled") or ():
            unsettled.add(position)
            self._cancel_recorded(position)
        for position, _state in outcome["other"]:
            # Not run: the batch stopped early (a task failed under terminateJob). A first attempt goes back
            # to the ready tasks, a retry to the retries; a stopped job skips or abandons them.
            unsettled.add(position)
            attempt = dict(flight.tasks).get(position, 1)
            if attempt == 1:
                self.scheduler.release(str(position))
            elif self.stopping:
                self._abandon(position, attempt - 1, "the job stopped before its retry")
            else:
                not_started.append((position, attempt))
        if actions:
            for position, _ in flight.tasks:
                if position not in unsettled:
                    self._succeed(position, actions.get(position))
        else:  # most batches: every task it ran succeeded, none with an exit condition's action
            ids = _position_ids(self.plan["size"])
            self.scheduler.mark_all_succeeded(ids[p] for p, _ in flight.tasks if p not in unsettled)
        if retry_now and self.interval > timedelta(0):
            self.backing_off[self._timer(now + self.interval)] = retry_now
        else:
            self.again.extend(retry_now)
        self.again.extend(not_started)
        if self.stopping:
            self.owed.skip.extend(int(t) for t in self.scheduler.skip_all_pending())

    def _stop_now(self) -> None:
        """Nobody starts a retry of a stopped job; a cancelled or timed-out job abandons what runs now
        (command tasks are killed by their activity, which watches the job record)."""
        why = "the job stopped"
        if self.cancelled:
            why = "the job was cancelled"
        elif self.timed_out:
            why = "the job ran past maxWallClockSeconds"
        waiting_tasks = [(p, a - 1) for tasks in self.backing_off.values() for p, a in tasks]
        waiting_tasks += [(p, a - 1) for p, a in self.again]
        # Rate-limited tasks never started: a first attempt is skipped as any task not started, a retry is
        # abandoned as the other waiting retries are.
        for p, a in self.limited.drain():
            if a == 1:
                self.scheduler.release(str(p))
            else:
                waiting_tasks.append((p, a - 1))
        self.owed.skip.extend(int(t) for t in self.scheduler.skip_all_pending())
        if self.cancelled or self.timed_out:
            # A cancelled command is killed by its activity, which then returns: the partition waits for
            # it, so a job is `cancelled` only once its commands are dead. Other batches are abandoned.
            keep = {t: f for t, f in self.flights.items() if self.cancelled and f.kind == "command"}
            waiting_tasks += [task for t, f in self.flights.items() if t not in keep for task in f.tasks]
            self.flights = keep
            self._in_use = sum(flight.slots for flight in keep.values())
        for position, attempts in waiting_tasks:
            self._abandon(position, max(0, attempts), why)
        self.backing_off.clear()
        self.again.clear()

    # -- the loop ---------------------------------------------------------------------------------------------

    def step(self, now: datetime) -> bool:
        """Decide what to start and record now; True when the partition is done (then `returning`)."""
        if self.moving is not None and not self.flights and self.exchanging is None:
            # Moved to another pool, with no batch running: the old pool gets back what it still counts for
            # this partition, and the new one is asked from now on (its rate limits too).
            if self.pool is not None and self.lease.ever:
                self._release()
            self.pool, self.moving = self.moving, None
            self.lease = Lease()
            self.limited.rebase(self.pool.get("rateLimits", {}))
        # The pool first: what it is asked for (more slots, fewer) decides how ready tasks go out in batches.
        self._exchange(now)
        if not self.stopping:
            self._start_batches()
            if (
                not self.probes_timed_out
                and self.probe_timer is None
                and self.flights
                and self.timing.mean("handler") is None
                and self.plan["batchSize"] is None
            ):
                self.probe_timer = self._timer(now + timedelta(seconds=PROBE_WAIT_SECONDS))
        if self.exchanging is None:
            self._exchange(now)  # slots the batches just started did not take, given back when others wait
        for ticket in [s for s in self.settling if self._done(s)]:
            self._settled(ticket, now)
        self.settling = [s for s in self.settling if not self._done(s)]
        # A partition waits for its DISABLE_JOB call, so the disable is applied (or found needless) while the
        # job runs, never raced by the job's end.
        finished = (
            self.scheduler.is_finished
            and not self.flights
            and not self.backing_off
            and not self.again
            and not self._asking_disable()
            and not self.exchanging
            and not self.limited
        )
        calling = bool(self.settling) or self.settle_again is not None
        if not calling and self.owed.settle_due(finished or self.stopping, batches_running=bool(self.flights)):
            self._settle()
        if finished and not self.settling and not self.owed.handed and self.settle_again is None:
            return True
        if self.owed.handed and self.flights and self.record_timer is None:
            self.record_timer = self._timer(now + timedelta(seconds=RECORD_WAIT_SECONDS))
        return False

    def _asking_disable(self) -> bool:
        return self.disabling is not None and not self._done(self.disabling)

    def waiting(self) -> list[int | str]:
        """What to wait for now, in order: tickets, and STOP, CONTROLS, DEADLINE for the fixed waits."""
        waiting: list[int | str] = [*self.flights, *self.backing_off, *self.settling]
        if self.disabling is not None and not self._done(self.disabling):
            waiting.append(self.disabling)
        for ticket in (self.settle_again[0] if self.settle_again else None, self.exchanging, self.poll_timer):
            if ticket is not None:
                waiting.append(ticket)
        if self.rate_timer is not None and not self.stopping:
            waiting.append(self.rate_timer)
        if self.record_timer is not None:
            waiting.append(self.record_timer)
        if not self.stopping:
            waiting += [STOP, CONTROLS]
            if self.has_deadline:
                waiting.append(DEADLINE)
            probing = self.probe_timer is not None and not self._done(self.probe_timer)
            if probing and self.timing.mean("handler") is None:
                waiting.append(cast(int, self.probe_timer))
        return waiting

    def after_wait(
        self,
        now: datetime,
        *,
        control: tuple[int | None, wire.PoolRef | None] | None = None,
        seen: int | None = None,
        stop: str | None = None,
        deadline: bool = False,
    ) -> None:
        """Apply what came while the partition waited, in order: the tickets in `results`, a control event
        (`control`: its share and pool; `seen`: the control events taken in all), a stop event's reason
        (`stop`; "cancel" cancels), and whether the job's deadline has passed."""
        if self._done(self.probe_timer) and self.timing.mean("handler") is None:
            self.probes_timed_out = True
        if self.exchanging is not None and self._done(self.exchanging):
            answer = self.results[self.exchanging]
            self.lease.answered(answer)
            self.limited.granted(answer.get("permits") if isinstance(answer, dict) else None)
            self.exchanging = None
            if self.limited and self.rate_timer is None:
                # Ask for the next permits about when these run out (half the horizon: they come in time).
                self.rate_timer = self._timer(now + timedelta(milliseconds=PERMIT_HORIZON_MS // 2))
            if self.lease.waiting and self.poll_timer is None:
                self.poll_timer = self._timer(now + timedelta(milliseconds=self.lease.poll_delay_ms()))
        if self._done(self.poll_timer):
            self.poll_timer = None
            self.lease.poll_fired()
        if self._done(self.rate_timer):
            self.rate_timer = None
        if self._done(self.record_timer):
            self.record_timer, self.owed.due = None, True
        if self.settle_again is not None and self._done(self.settle_again[0]):
            self._send_settle(self.settle_again[1])
            self.settle_again = None
        if seen is not None:
            self.seen = seen
        if control is not None:
            self.take_control(*control)
            self.holding = False
        if self.disabling is not None and self._done(self.disabling) and self.disabling_from is None:
            self.disabling_from = self.seen
        for timer in [t for t in self.backing_off if self._done(t)]:
            self.again.extend(self.backing_off.pop(timer))
        for ticket in [t for t in self.flights if self._done(t)]:
            self._returned(ticket, now)
        if not self.stopping and stop is not None:
            self.stopping = True
            self.cancelled = stop == "cancel"
            self.owed.skip.extend(int(t) for t in self.scheduler.skip_all_pending())
        if not self.stopping and deadline:
            self.stopping = self.timed_out = True
            self.owed.skip.extend(int(t) for t in self.scheduler.skip_all_pending())
        if self.stopping:
            self._stop_now()

    def returning(self) -> bool:
        """The partition returns: its pool gets back what it holds. True when that took a signal."""
        releasing = self.pool is not None and self.lease.ever
        if releasing:
            self._release()
        return releasing

    def result(self, cost: Any) -> wire.PartitionResult:
        """What the partition returns (`cost`: its cost, as the orchestration counts it)."""
        mean = self.timing.mean("handler")
        result: wire.PartitionResult = {
            "partition": self.partition,
            "taskCounts": self.final_counts().to_json(),
            "cost": cost,
            "failedTasks": self.failed_ids,
            "terminated": self.terminated,
            "timedOut": self.timed_out,
            "cancelled": self.cancelled,
            "taskMs": None if mean is None else mean * 1000,
        }
        command_mean = self.timing.mean("command")
        if command_mean is not None:
            result["commandMs"] = command_mean * 1000
        return result
