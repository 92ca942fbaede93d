"""The batch app on the simulator: its orchestrators replayed by the SDK through devhost's pure core, over the
real activities on in-memory stores (`Services.in_memory`). `MemoryBatch` holds a job's app, `simulate` starts
its job orchestration, `job` writes a job body."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from durable_batch.activities.audit import audit_job
from durable_batch.activities.batches import run_batch
from durable_batch.activities.job_actions import disable_for_exit
from durable_batch.activities.jobs import finish_job, prepare_job, prepare_rerun
from durable_batch.activities.partitions import load_partition, settle_tasks
from durable_batch.activities.reduce import reduce_job
from durable_batch.activities.specs import SpecCache
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch import wire
from durable_batch.batch.handlers import TaskContext, TaskHandlers
from durable_batch.batch.slots import Ledger
from durable_batch.batch.spec import JobSpec
from durable_batch.batch.validation import parse_job
from durable_batch.operations.submit import store_spec
from durable_batch.orchestrators.group import group_orchestrator
from durable_batch.orchestrators.job import job_orchestrator
from durable_batch.orchestrators.partition import partition_orchestrator
from durable_batch.orchestrators.pool import apply as apply_pool_operation
from durable_batch.storage.blobs import BlobStore
from durable_batch.storage.jobs import JobRecord, JobState
from durable_batch.storage.rows import RowStore
from tests.support.simulator import SimulatedClient, Simulator


class MemoryBatch:
    """The batch app's activities over in-memory stores: the real PREPARE_JOB, PREPARE_RERUN, LOAD_PARTITION,
    RUN_BATCH, SETTLE_TASKS, REDUCE, AUDIT_JOB and FINISH_JOB, and DISABLE_JOB over a durable client on the
    simulator. Only STOP_PARTITIONS is a stand-in: the real one raises events through the durable client, this one
    through the simulator. With `commands`, the job may have command tasks (they run as real processes);
    `settings` adds app settings; `task_rows` and `result_blobs`: stores of the test's own under the task records
    and the results."""

    def __init__(
        self,
        body: dict[str, Any],
        *,
        partition_size: int = 100,
        commands: bool = False,
        settings: dict[str, str] | None = None,
        task_rows: RowStore | None = None,
        result_blobs: BlobStore | None = None,
    ) -> None:
        handlers = TaskHandlers()
        self.attempts: Counter[str] = Counter()
        self.reduced = 0
        self.hook: Callable[[Any], None] = lambda value: None

        @handlers.task("t.ok")
        def ok(value: Any, ctx: TaskContext) -> Any:
            self.attempts[ctx.task_id] += 1
            return value

        @handlers.task("t.slow")
        def slow(value: Any, ctx: TaskContext) -> Any:
            self.attempts[ctx.task_id] += 1
            return value

        @handlers.task("t.fail")
        def fail(value: Any, ctx: TaskContext) -> Any:
            self.attempts[ctx.task_id] += 1
            raise ValueError(f"{ctx.task_id} attempt {ctx.attempt}")

        @handlers.task("t.flaky")
        def flaky(value: Any, ctx: TaskContext) -> Any:
            self.attempts[ctx.task_id] += 1
            if ctx.attempt <= value["failures"]:
                raise ValueError(f"{ctx.task_id} attempt {ctx.attempt}")
            return value

        @handlers.task("t.hook")
        def hook(value: Any, ctx: TaskContext) -> Any:
            """Runs `self.hook(value)`: a test's way to act in the middle of a batch."""
            self.attempts[ctx.task_id] += 1
            self.hook(value)
            return value

        @handlers.task("t.async_fail")
        async def async_fail(value: Any, ctx: TaskContext) -> Any:
            self.attempts[ctx.task_id] += 1
            raise ValueError(f"{ctx.task_id} attempt {ctx.attempt}")

        @handlers.task("t.async_ok")
        async def async_ok(value: Any, ctx: TaskContext) -> Any:
            self.attempts[ctx.task_id] += 1
            return value

        @handlers.task("t.sum")
        def total(results: Any) -> Any:
            self.reduced += 1
            return sum(value for _, value in results)

        self.spec: JobSpec = parse_job(body, known_handlers=set(handlers), allow_command_tasks=commands)
        self.partition_size = partition_size
        environ = {"BATCH_ALLOW_COMMAND_TASKS": "true"} if commands else {}
        # A work folder of its own (batches' delivery marks, commands' folders), gone with this object.
        self.work = tempfile.mkdtemp(prefix="memory-batch-")
        weakref.finalize(self, shutil.rmtree, self.work, True)
        environ["BATCH_WORK_DIR"] = self.work
        environ["BATCH_COMMAND_USER"] = "@worker"  # the tests' own Python (see tests/e2e/batch_host.py)
        environ.update(settings or {})
        self.services = Services.in_memory(
            Settings.from_environ(environ), handlers, task_rows=task_rows, result_blobs=result_blobs
        )
        # What a submit leaves: the canonical spec in its blob (an inline job's with its index) and a pending record.
        store_spec(self.services, self.spec, partition_size)
        created = datetime(2026, 11, 7, 12, 0, tzinfo=UTC)
        pending = JobRecord(self.spec.id, JobState.PENDING, created=created, spec_hash=self.spec.canonical_hash())
        assert self.services.jobs.create_job(pending)
        self.specs = SpecCache(self.services.results.read_job_spec)
        self.stops: list[dict[str, Any]] = []
        self.disables: list[dict[str, Any]] = []
        self.disabled: list[str] = []  # what each DISABLE_JOB call answered
        self.shares: list[dict[str, Any]] = []
        self.sim: Simulator

    def activities(self) -> dict[str, Any]:
        services, specs = self.services, self.specs
        return {
            wire.PREPARE_JOB: lambda request: prepare_job(services, specs, request),
            wire.PREPARE_RERUN: lambda request: prepare_rerun(services, specs, request),
            wire.LOAD_PARTITION: lambda request: load_partition(services, specs, request),
            wire.RUN_BATCH: lambda request: run_batch(services, specs, request),
            wire.SETTLE_TASKS: lambda request: settle_tasks(services, specs, request),
            wire.REDUCE: lambda request: reduce_job(services, specs, request),
            wire.AUDIT_JOB: lambda request: audit_job(services, specs, request),
            wire.FINISH_JOB: lambda request: finish_job(services, request),
            wire.STOP_PARTITIONS: self.stop,
            wire.DISABLE_JOB: self.disable,
        }

    def ids_of(self, request: dict[str, Any]) -> set[str]:
        """The task ids of a RUN_BATCH request."""
        positions = self.specs.get(self.spec.id, request["specHash"]).positions(
            request["partitionSize"], request["partition"]
        )
        return {self.spec.tasks[positions[p]].id for first, stop, _ in request["tasks"] for p in range(first, stop)}

    def holds(self, *task_ids: str) -> Any:
        """A simulator `hold` that keeps the batches of these tasks in flight."""
        held = set(task_ids)
        return lambda name, request: name == wire.RUN_BATCH and bool(self.ids_of(request) & held)

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return {
            r.task_id: {"state": r.state.value, "attempts": r.attempts, "error": r.error}
            for r in self.services.tasks.iter_tasks(self.spec.id)
        }

    def record(self) -> JobRecord:
        """The job's record as the job API reads it."""
        record = self.services.jobs.get_job(self.spec.id)
        assert record is not None
        return record

    def stop(self, request: dict[str, Any]) -> int:
        # What the real activity does through the durable client: raise the stop event on each partition.
        # With `shares`, the control event that gives each its new share of the cap (and the pool it moves to).
        if "shares" in request:
            self.shares.append(request)
            for instance_id, share, name in zip(
                request["instanceIds"], request["shares"], request["events"], strict=True
            ):
                control = {"share": share, **({"pool": request["pool"]} if "pool" in request else {})}
                self.sim.raise_event(instance_id, name, control)
            return len(request["instanceIds"])
        self.stops.append(request)
        for instance_id in request["instanceIds"]:
            self.sim.raise_event(instance_id, wire.CANCEL_EVENT, request["reason"])
        return len(request["instanceIds"])

    def disable(self, request: wire.DisableJobInput) -> str:
        self.disables.append(dict(request))
        answer = asyncio.run(disable_for_exit(SimulatedClient(self.sim), self.services, request))
        self.disabled.append(answer)
        return answer

    def states(self) -> Counter[str]:
        return Counter(r["state"] for r in self.records.values())


def slots(name: str, request: Any) -> int:
    """Task slots an activity call holds: a batch's concurrency."""
    return int(request["concurrency"]) if name == wire.RUN_BATCH else 0


def pool(state: Any, operation: str, data: Any) -> tuple[Any, Any]:
    """The pool entity's operations on its ledger, as the entity function applies them."""
    ledger = Ledger.from_json(state)
    result = apply_pool_operation(ledger, operation, data)
    return ledger.to_json(), result


class RecordingBatch(MemoryBatch):
    """MemoryBatch that keeps every request its activities were given, by activity."""

    def __init__(self, body: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        self.requests: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def activities(self) -> dict[str, Any]:
        def recorded(name: str, call: Callable[[Any], Any]) -> Callable[[Any], Any]:
            def run(request: Any) -> Any:
                self.requests[name].append(request)
                return call(request)

            return run

        return {name: recorded(name, call) for name, call in super().activities().items()}


def simulate(app: MemoryBatch, **kwargs: Any) -> Simulator:
    kwargs.setdefault("weigh", slots)
    kwargs.setdefault("entities", {wire.POOL_ENTITY: pool})
    sim = Simulator(
        {
            wire.JOB_ORCHESTRATOR: job_orchestrator,
            wire.GROUP_ORCHESTRATOR: group_orchestrator,
            wire.PARTITION_ORCHESTRATOR: partition_orchestrator,
        },
        app.activities(),
        **kwargs,
    )
    app.sim = sim
    sim.start(
        wire.JOB_ORCHESTRATOR,
        app.spec.id,
        {"jobId": app.spec.id, "specHash": app.spec.canonical_hash(), "partitionSize": app.partition_size},
    )
    return sim


def job(tasks: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"id": "job-1", "tasks": tasks, **fields}
