"""The job and partition orchestrators, replayed by the SDK through devhost's pure core, with fake activities
that keep the job's state in memory. Fast, deterministic, and no storage: the same behaviours are tested
through HTTP against devhost and Azurite in tests/e2e."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from batch import wire
from batch.plan import JobPlan, plan_job
from batch.spec import JobSpec
from batch.validation import parse_job
from orchestrators.group import group_orchestrator
from orchestrators.job import job_orchestrator
from orchestrators.partition import partition_orchestrator
from tests.unit.orchestrators.simulator import Simulator

HANDLERS = {"t.ok", "t.flaky", "t.fail", "t.slow", "t.sum"}


class FakeBatch:
    """The activities of the batch app, over an in-memory job."""

    def __init__(self, body: dict[str, Any], *, partition_size: int = 100) -> None:
        self.spec: JobSpec = parse_job(body, known_handlers=HANDLERS, allow_command_tasks=False)
        self.partition_size = partition_size
        self.attempts: Counter[str] = Counter()
        self.records: dict[str, dict[str, Any]] = {}
        self.finished: dict[str, Any] | None = None
        self.stops: list[dict[str, Any]] = []
        self.reduced = 0
        self.plans: dict[int, JobPlan] = {}
        self.sim: Simulator

    def activities(self) -> dict[str, Any]:
        return {
            wire.PREPARE_JOB: self.prepare,
            wire.LOAD_PARTITION: self.load,
            wire.RUN_TASK: self.run_task,
            wire.RECORD_TASKS: self.record,
            wire.REDUCE: self.reduce,
            wire.FINISH_JOB: self.finish,
            wire.STOP_PARTITIONS: self.stop,
        }

    def plan(self, partition_size: int) -> JobPlan:
        # Planned once per size: the real activities plan each time, but here it would dominate the run time.
        if partition_size not in self.plans:
            self.plans[partition_size] = plan_job(self.spec, partition_size)
        return self.plans[partition_size]

    def prepare(self, request: dict[str, Any]) -> dict[str, Any]:
        plan = self.plan(request["partitionSize"])
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

    def load(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        plan = self.plan(request["partitionSize"])
        return [
            {
                "index": i,
                "id": self.spec.tasks[i].id,
                "dependsOn": list(self.spec.tasks[i].depends_on),
                "maxRetryCount": self.spec.retry_count_for(self.spec.tasks[i]),
                "retryIntervalSeconds": self.spec.retry_interval_seconds,
            }
            for i in plan.partitions[request["partition"]].task_indexes()
        ]

    def run_task(self, request: dict[str, Any]) -> dict[str, Any]:
        task = self.spec.tasks[request["taskIndex"]]
        self.attempts[task.id] += 1
        times = {"startedAt": "2030-01-01T00:00:00+00:00", "endedAt": "2030-01-01T00:00:01+00:00"}
        if task.handler == "t.fail" or (task.handler == "t.flaky" and request["attempt"] <= task.input["failures"]):
            return {"ok": False, "error": f"ValueError: {task.id} attempt {request['attempt']}", **times}
        return {"ok": True, "result": task.input, **times}

    def record(self, request: dict[str, Any]) -> None:
        for record in request["records"]:
            self.records[record["id"]] = record

    def reduce(self, request: dict[str, Any]) -> dict[str, Any]:
        self.reduced += 1
        return {"ok": True, "result": sum(r.get("result") or 0 for r in self.records.values() if r.get("result"))}

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


def simulate(fake: FakeBatch, **kwargs: Any) -> Simulator:
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
    assert 1 < sim.max_in_flight[wire.RUN_TASK] <= 40


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
    tasks = [{"id": f"t{i:03d}", "handler": "t.slow" if i == 5 else "t.ok", "input": i} for i in range(300)]
    fake = FakeBatch(job(tasks, maxParallelTasks=64), partition_size=100)
    sim = simulate(fake, batch=5, hold=lambda name, request: name == wire.RUN_TASK and request["taskId"] == "t005")
    sim.run(until=lambda: sum(fake.attempts.values()) >= 50)
    sim.raise_event("job-1", wire.CANCEL_EVENT, "cancel")
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "cancelled"
    counts = output["taskCounts"]
    assert counts["total"] == 300 and counts["skipped"] > 0
    assert counts["succeeded"] + counts["failed"] + counts["skipped"] == 300
    assert fake.records["t005"]["state"] == "failed"  # abandoned while running
    assert fake.stops and all(s["reason"] == "cancel" for s in fake.stops)
    assert fake.reduced == 0


def test_wall_clock_limit_fails_the_job() -> None:
    tasks = [{"id": "slow", "handler": "t.slow"}, {"id": "after", "handler": "t.ok", "dependsOn": ["slow"]}]
    fake = FakeBatch(job(tasks, maxWallClockSeconds=60))
    sim = simulate(fake, hold=lambda name, request: name == wire.RUN_TASK and request["taskId"] == "slow")
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
    assert sim.max_in_flight[wire.RUN_TASK] <= 100
    partitions = [i for i in sim.instances.values() if i.name == wire.PARTITION_ORCHESTRATOR]
    assert len(partitions) == 20
    # A partition's history grows with its own tasks, never with the job's.
    assert max(len(p.history) for p in partitions) < 100 * 8
    assert len(sim.instances["job-1"].history) < 20 * 8 + 40
