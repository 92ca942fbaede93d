"""The job and partition orchestrators, replayed by the SDK through devhost's pure core, with fake activities
that keep the job's state in memory. Fast, deterministic, and no storage: the same behaviours are tested
through HTTP against devhost and Azurite in tests/e2e."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from activities.batches import run_batch
from activities.partitions import chunk_layout, load_partition, settle_tasks
from activities.specs import SpecCache
from app.services import Services
from app.settings import Settings
from batch import wire
from batch.handlers import TaskContext, TaskHandlers
from batch.spec import JobSpec
from batch.validation import parse_job
from orchestrators.group import group_orchestrator
from orchestrators.job import job_orchestrator
from orchestrators.partition import partition_orchestrator
from storage.rows import MemoryRows
from storage.tasks import TaskStore
from tests.unit.orchestrators.simulator import Simulator


class MemoryResults:
    """The part of `storage.results.ResultStore` the batch activities write to, in memory."""

    def __init__(self) -> None:
        self.blobs: dict[str, str] = {}

    def write_partition_batch(self, job_id: str, partition: int, batch: int, rows: Any) -> str:
        name = f"{job_id}/results/p{partition:05d}-b{batch:05d}.jsonl"
        self.blobs[name] = "".join(json.dumps(row) + "\n" for row in rows)
        return name

    def write_task_blob(self, job_id: str, task_id: str, name: str, data: Any, content_type: Any = None) -> str:
        blob = f"{job_id}/tasks/{task_id}/{name}"
        self.blobs[blob] = data if isinstance(data, str) else data.decode()
        return blob

    def rows(self) -> list[dict[str, Any]]:
        return [
            json.loads(line)
            for name, text in sorted(self.blobs.items())
            if "/results/" in name
            for line in text.splitlines()
        ]


class FakeBatch:
    """The batch app's activities over an in-memory job: the real LOAD_PARTITION, RUN_BATCH and SETTLE_TASKS
    with the real task store on in-memory rows; prepare, reduce, finish and stop as small stand-ins."""

    def __init__(self, body: dict[str, Any], *, partition_size: int = 100) -> None:
        handlers = TaskHandlers()
        self.attempts: Counter[str] = Counter()

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

        @handlers.task("t.sum")
        def total(results: Any) -> Any:
            return sum(value for _, value in results)

        self.spec: JobSpec = parse_job(body, known_handlers=set(handlers), allow_command_tasks=False)
        self.partition_size = partition_size
        self.rows = MemoryRows()
        self.results = MemoryResults()
        self.services = Services(
            Settings.from_environ({}),
            handlers,
            _tasks=TaskStore(self.rows),
            _results=self.results,  # type: ignore[arg-type]
        )
        self.specs = SpecCache(lambda job_id: self.spec.to_json())
        self.finished: dict[str, Any] | None = None
        self.stops: list[dict[str, Any]] = []
        self.reduced = 0
        self.sim: Simulator

    def activities(self) -> dict[str, Any]:
        return {
            wire.PREPARE_JOB: self.prepare,
            wire.LOAD_PARTITION: lambda request: load_partition(self.services, self.specs, request),
            wire.RUN_BATCH: lambda request: run_batch(self.services, self.specs, request),
            wire.SETTLE_TASKS: lambda request: settle_tasks(self.services, self.specs, request),
            wire.REDUCE: self.reduce,
            wire.FINISH_JOB: self.finish,
            wire.STOP_PARTITIONS: self.stop,
        }

    def prepare(self, request: dict[str, Any]) -> dict[str, Any]:
        cached = self.specs.get(self.spec.id, request["specHash"])
        plan = cached.plan(request["partitionSize"])
        self.services.tasks.create_job(self.spec.id, "layout", chunk_layout(cached, request["partitionSize"]))
        return {
            "totalTasks": len(self.spec.tasks),
            "partitionSizes": [p.size for p in plan.partitions],
            "partitionSize": request["partitionSize"],
            "maxParallelTasks": self.spec.max_parallel_tasks,
            "maxWallClockSeconds": self.spec.max_wall_clock_seconds,
            "onTaskFailure": self.spec.on_task_failure.value,
            "toleratedFailurePercentage": self.spec.tolerated_failure_percentage,
            "hasReduce": self.spec.reduce is not None,
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

    def reduce(self, request: dict[str, Any]) -> dict[str, Any]:
        self.reduced += 1
        return {"ok": True, "result": sum(row.get("result") or 0 for row in self.results.rows())}

    def finish(self, request: dict[str, Any]) -> str:
        self.finished = request
        return f"{request['jobId']}/summary.json"

    def stop(self, request: dict[str, Any]) -> int:
        # What the real activity does through the durable client: raise the stop event on each partition.
        self.stops.append(request)
        for instance_id in request["instanceIds"]:
            self.sim.raise_event(instance_id, wire.CANCEL_EVENT, request["reason"])
        return len(request["instanceIds"])

    def states(self) -> Counter[str]:
        return Counter(r["state"] for r in self.records.values())


def slots(name: str, request: Any) -> int:
    """Task slots an activity call holds: a batch's concurrency."""
    return int(request["concurrency"]) if name == wire.RUN_BATCH else 0


def simulate(fake: FakeBatch, **kwargs: Any) -> Simulator:
    kwargs.setdefault("weigh", slots)
    sim = Simulator(
        {
            wire.JOB_ORCHESTRATOR: job_orchestrator,
            wire.GROUP_ORCHESTRATOR: group_orchestrator,
            wire.PARTITION_ORCHESTRATOR: partition_orchestrator,
        },
        fake.activities(),
        **kwargs,
    )
    fake.sim = sim
    sim.start(
        wire.JOB_ORCHESTRATOR,
        fake.spec.id,
        {"jobId": fake.spec.id, "specHash": fake.spec.canonical_hash(), "partitionSize": fake.partition_size},
    )
    return sim


def job(tasks: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"id": "job-1", "tasks": tasks, **fields}


def test_every_task_runs_once_under_the_parallelism_cap() -> None:
    fake = FakeBatch(job([{"id": f"t{i}", "handler": "t.ok", "input": i} for i in range(1000)], maxParallelTasks=40))
    sim = simulate(fake, batch=25)
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
    }
    assert set(fake.attempts.values()) == {1}
    assert fake.states() == Counter({"succeeded": 1000})
    assert 1 < sim.max_weight <= 40


def test_a_flaky_task_is_retried_after_the_interval() -> None:
    tasks = [{"id": "a", "handler": "t.flaky", "input": {"failures": 2}}]
    fake = FakeBatch(job(tasks, maxTaskRetryCount=2, retryIntervalSeconds=30))
    sim = simulate(fake)
    sim.run()
    assert fake.attempts["a"] == 1  # the retry waits for its interval
    sim.run_with_time()
    assert fake.attempts["a"] == 3
    assert fake.records["a"]["state"] == "succeeded"
    assert fake.records["a"]["attempts"] == 3
    assert sim.instances["job-1"].output["state"] == "succeeded"


def test_a_failed_dependency_skips_its_dependents_and_fails_the_job() -> None:
    tasks = [
        {"id": "a", "handler": "t.fail"},
        {"id": "b", "handler": "t.ok", "dependsOn": ["a"]},
        {"id": "c", "handler": "t.ok", "dependsOn": ["b"]},
        {"id": "d", "handler": "t.ok"},
    ]
    fake = FakeBatch(job(tasks, maxTaskRetryCount=1, retryIntervalSeconds=0))
    sim = simulate(fake)
    sim.run_with_time()
    assert fake.attempts == Counter({"a": 2, "d": 1})
    assert {k: r["state"] for k, r in fake.records.items()} == {
        "a": "failed",
        "b": "skipped",
        "c": "skipped",
        "d": "succeeded",
    }
    assert "a attempt 2" in fake.records["a"]["error"]
    output = sim.instances["job-1"].output
    assert output["state"] == "failed"
    assert output["failedTasks"] == ["a"]


@pytest.mark.parametrize(("tolerated", "state"), [(10, "succeeded"), (5, "failed")])
def test_tolerated_failure_percentage(tolerated: float, state: str) -> None:
    tasks = [{"id": f"t{i}", "handler": "t.fail" if i == 0 else "t.ok", "input": i} for i in range(10)]
    fake = FakeBatch(job(tasks, toleratedFailurePercentage=tolerated, reduce={"handler": "t.sum"}))
    sim = simulate(fake)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == state
    assert output["taskCounts"]["failed"] == 1
    assert fake.reduced == (1 if state == "succeeded" else 0)


def test_terminate_job_stops_starting_tasks_and_skips_the_rest() -> None:
    tasks = [{"id": f"t{i:03d}", "handler": "t.fail" if i == 3 else "t.ok", "input": i} for i in range(50)]
    fake = FakeBatch(job(tasks, onTaskFailure="terminateJob", maxParallelTasks=2), partition_size=10)
    sim = simulate(fake, batch=1)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "failed"
    assert "terminateJob" in output["reason"] or "terminat" in output["reason"]
    counts = output["taskCounts"]
    assert counts["failed"] == 1
    assert counts["succeeded"] + counts["failed"] + counts["skipped"] == 50
    assert counts["skipped"] >= 40  # the later partitions never started a task
    assert fake.states()["skipped"] == counts["skipped"]
    assert max(fake.attempts.values()) == 1 and len(fake.attempts) == counts["succeeded"] + 1


def test_cancel_ends_the_job_cancelled_and_skips_what_never_ran() -> None:
    # Six partitions of 100, two at a time; t005's batch is held, so partition 0 runs until the cancel.
    tasks = [{"id": f"t{i:03d}", "handler": "t.slow" if i == 5 else "t.ok", "input": i} for i in range(600)]
    fake = FakeBatch(job(tasks, maxParallelTasks=64), partition_size=100)
    sim = simulate(fake, batch=5, hold=fake.holds("t005"))
    sim.run(until=lambda: sum(fake.attempts.values()) >= 150)
    sim.raise_event("job-1", wire.CANCEL_EVENT, "cancel")
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "cancelled"
    counts = output["taskCounts"]
    assert counts["total"] == 600 and counts["skipped"] > 0
    assert counts["succeeded"] + counts["failed"] + counts["skipped"] == 600
    assert fake.states() == Counter({k: v for k, v in counts.items() if k != "total" and v})
    assert fake.records["t005"]["state"] == "failed"  # abandoned while running
    assert fake.stops and all(s["reason"] == "cancel" for s in fake.stops)
    assert fake.reduced == 0


def test_wall_clock_limit_fails_the_job() -> None:
    tasks = [{"id": "slow", "handler": "t.slow"}, {"id": "after", "handler": "t.ok", "dependsOn": ["slow"]}]
    fake = FakeBatch(job(tasks, maxWallClockSeconds=60))
    sim = simulate(fake, hold=fake.holds("slow"))
    sim.run()
    assert sim.instances["job-1"].status == "Running"
    sim.advance(61)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "failed"
    assert "maxWallClockSeconds" in output["reason"] or "wall" in output["reason"].lower()
    assert {k: r["state"] for k, r in fake.records.items()} == {"slow": "failed", "after": "skipped"}


def test_partitions_share_the_cap_and_keep_their_histories_bounded() -> None:
    fake = FakeBatch(job([{"id": f"t{i}", "handler": "t.ok", "input": 1} for i in range(2000)], maxParallelTasks=100))
    sim = simulate(fake, batch=50)
    sim.run_with_time()
    assert sim.instances["job-1"].output["taskCounts"]["succeeded"] == 2000
    assert sim.max_weight <= 100
    partitions = [i for i in sim.instances.values() if i.name == wire.PARTITION_ORCHESTRATOR]
    assert len(partitions) == 20
    # A partition's history grows with its own tasks, never with the job's.
    assert max(len(p.history) for p in partitions) < 100 * 8
    assert len(sim.instances["job-1"].history) < 20 * 8 + 40
