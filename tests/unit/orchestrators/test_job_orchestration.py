"""The job and partition orchestrators, replayed by the SDK through devhost's pure core, over the real
activities on in-memory stores (`Services.in_memory`). Fast, deterministic, and no storage: the same behaviours
are tested through HTTP against devhost and Azurite in tests/e2e."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import weakref
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from activities.audit import audit_job
from activities.batches import run_batch
from activities.job_actions import disable_for_exit
from activities.jobs import finish_job, prepare_job, prepare_rerun
from activities.partitions import load_partition, settle_tasks
from activities.reduce import reduce_job
from activities.specs import SpecCache
from app.services import Services
from app.settings import Settings
from batch import wire
from batch.handlers import TaskContext, TaskHandlers
from batch.slots import Ledger
from batch.spec import JobSpec
from batch.validation import parse_job
from orchestrators.group import group_orchestrator
from orchestrators.job import job_orchestrator
from orchestrators.partition import partition_orchestrator
from orchestrators.pool import apply as apply_pool_operation
from storage.blobs import BlobStore
from storage.jobs import JobRecord, JobState
from storage.rows import RowStore
from tests.unit.orchestrators.simulator import SimulatedClient, Simulator

pytestmark = pytest.mark.unit


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
        # What a submit leaves: the canonical spec in its blob and a pending record.
        self.services.results.write_job_spec(self.spec.id, self.spec.to_json())
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


def test_every_task_runs_once_under_the_parallelism_cap() -> None:
    app = MemoryBatch(job([{"id": f"t{i}", "handler": "t.ok", "input": i} for i in range(1000)], maxParallelTasks=40))
    sim = simulate(app, batch=25)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "succeeded"
    assert output["taskCounts"] == {
        "total": 1000,
        "pending": 0,
        "running": 0,
        "succeeded": 1000,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }
    assert set(app.attempts.values()) == {1}
    assert app.states() == Counter({"succeeded": 1000})
    assert 1 < sim.max_weight <= 40
    # The real finish wrote the final record and the summary; every result is in the job's result blobs.
    record = app.record()
    assert record.state == JobState.SUCCEEDED and record.task_counts.succeeded == 1000 and record.end_time
    summary = app.services.results.read_summary("job-1")
    assert summary is not None and summary["state"] == "succeeded"
    assert sorted(row["result"] for row in app.services.results.iter_results("job-1")) == list(range(1000))


def test_a_flaky_task_is_retried_after_the_interval() -> None:
    tasks = [{"id": "a", "handler": "t.flaky", "input": {"failures": 2}}]
    app = MemoryBatch(job(tasks, maxTaskRetryCount=2, retryIntervalSeconds=30))
    sim = simulate(app)
    sim.run()
    assert app.attempts["a"] == 1  # the retry waits for its interval
    sim.run_with_time()
    assert app.attempts["a"] == 3
    assert app.records["a"]["state"] == "succeeded"
    assert app.records["a"]["attempts"] == 3
    assert sim.instances["job-1"].output["state"] == "succeeded"


def test_a_failed_dependency_skips_its_dependents_and_fails_the_job() -> None:
    tasks = [
        {"id": "a", "handler": "t.fail"},
        {"id": "b", "handler": "t.ok", "dependsOn": ["a"]},
        {"id": "c", "handler": "t.ok", "dependsOn": ["b"]},
        {"id": "d", "handler": "t.ok"},
    ]
    app = MemoryBatch(job(tasks, maxTaskRetryCount=1, retryIntervalSeconds=0))
    sim = simulate(app)
    sim.run_with_time()
    assert app.attempts == Counter({"a": 2, "d": 1})
    assert {k: r["state"] for k, r in app.records.items()} == {
        "a": "failed",
        "b": "skipped",
        "c": "skipped",
        "d": "succeeded",
    }
    assert "a attempt 2" in app.records["a"]["error"]
    output = sim.instances["job-1"].output
    assert output["state"] == "failed"
    assert output["failedTasks"] == ["a"]


@pytest.mark.parametrize(("tolerated", "state"), [(10, "succeeded"), (5, "failed")])
def test_tolerated_failure_percentage(tolerated: float, state: str) -> None:
    tasks = [{"id": f"t{i}", "handler": "t.fail" if i == 0 else "t.ok", "input": i} for i in range(10)]
    app = MemoryBatch(job(tasks, toleratedFailurePercentage=tolerated, reduce={"handler": "t.sum"}))
    sim = simulate(app)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == state
    assert output["taskCounts"]["failed"] == 1
    assert app.reduced == (1 if state == "succeeded" else 0)
    assert app.record().state == state
    if state == "succeeded":
        # The real reduce read the results of the nine tasks that succeeded, and stored its output.
        assert output["reduce"]["result"] == sum(range(1, 10))
        assert app.services.results.read_blob("_jobs/job-1/reduce.json") == b"45"


def test_terminate_job_stops_starting_tasks_and_skips_the_rest() -> None:
    tasks = [{"id": f"t{i:03d}", "handler": "t.fail" if i == 3 else "t.ok", "input": i} for i in range(50)]
    app = MemoryBatch(job(tasks, onTaskFailure="terminateJob", maxParallelTasks=2), partition_size=10)
    sim = simulate(app, batch=1)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "failed"
    assert "terminateJob" in output["reason"] or "terminat" in output["reason"]
    counts = output["taskCounts"]
    assert counts["failed"] == 1
    assert counts["succeeded"] + counts["failed"] + counts["skipped"] == 50
    assert counts["skipped"] >= 40  # the later partitions never started a task
    assert app.states()["skipped"] == counts["skipped"]
    assert max(app.attempts.values()) == 1 and len(app.attempts) == counts["succeeded"] + 1


def test_cancel_ends_the_job_cancelled_and_skips_what_never_ran() -> None:
    # Six partitions of 100, two at a time; t005's batch is held, so partition 0 runs until the cancel.
    tasks = [{"id": f"t{i:03d}", "handler": "t.slow" if i == 5 else "t.ok", "input": i} for i in range(600)]
    app = MemoryBatch(job(tasks, maxParallelTasks=64), partition_size=100)
    sim = simulate(app, batch=5, hold=app.holds("t005"))
    sim.run(until=lambda: sum(app.attempts.values()) >= 150)
    sim.raise_event("job-1", wire.CANCEL_EVENT, "cancel")
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "cancelled"
    counts = output["taskCounts"]
    assert counts["total"] == 600 and counts["skipped"] > 0
    assert counts["succeeded"] + counts["skipped"] + counts["cancelled"] == 600
    assert counts["failed"] == 0  # a cancel is not a failure
    assert app.states() == Counter({k: v for k, v in counts.items() if k != "total" and v})
    assert app.records["t005"]["state"] == "cancelled"  # it was running when the job was cancelled
    assert app.stops and all(s["reason"] == "cancel" for s in app.stops)
    assert app.reduced == 0
    assert app.record().state == JobState.CANCELLED


def test_wall_clock_limit_fails_the_job() -> None:
    tasks = [{"id": "slow", "handler": "t.slow"}, {"id": "after", "handler": "t.ok", "dependsOn": ["slow"]}]
    app = MemoryBatch(job(tasks, maxWallClockSeconds=60))
    sim = simulate(app, hold=app.holds("slow"))
    sim.run()
    assert sim.instances["job-1"].status == "Running"
    sim.advance(61)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "failed"
    assert "maxWallClockSeconds" in output["reason"] or "wall" in output["reason"].lower()
    assert {k: r["state"] for k, r in app.records.items()} == {"slow": "failed", "after": "skipped"}


def test_partitions_share_the_cap_and_keep_their_histories_bounded() -> None:
    app = MemoryBatch(job([{"id": f"t{i}", "handler": "t.ok", "input": 1} for i in range(2000)], maxParallelTasks=100))
    sim = simulate(app, batch=50)
    sim.run_with_time()
    assert sim.instances["job-1"].output["taskCounts"]["succeeded"] == 2000
    assert sim.max_weight <= 100
    partitions = [i for i in sim.instances.values() if i.name == wire.PARTITION_ORCHESTRATOR]
    assert len(partitions) == 20
    # A partition's history grows with its own tasks, never with the job's.
    assert max(len(p.history) for p in partitions) < 100 * 8
    assert len(sim.instances["job-1"].history) < 20 * 8 + 40
