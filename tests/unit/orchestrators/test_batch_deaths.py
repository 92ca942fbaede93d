"""The partition when a batch's process dies or a batch cannot run, on the simulator over the real activities in
memory: a died batch's tasks run again isolated, so only the task that kills its process is charged; a batch
that cannot run runs again after a pause; nothing runs in a loop. The host's side is stood in for: RUN_BATCH
"dies" as devhost reports it, and isolated batches' children are `StandInIsolation`'s (real ones in
tests/e2e/activities/test_isolated_batches.py, the whole path in tests/e2e/jobs/test_process_deaths.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from durable_batch.activities.batches import run_batch
from durable_batch.batch import wire
from durable_batch.batch.crashes import MAX_DEATHS, MAX_RUNS
from tests.support.memory_batch import MemoryBatch, job, simulate
from tests.unit.activities.test_batch_deliveries import StandInIsolation

pytestmark = pytest.mark.unit

DIED = "its process died (exit code 137)"


class DyingHost:
    """RUN_BATCH as a host runs it when `killer` ends its process: a batch that runs it dies (its activity
    fails as devhost fails it), and so do the first batches of `victims`, which shared the dead process. An
    isolated batch runs its tasks in (stand-in) processes of their own, where only the killer's dies."""

    def __init__(self, app: MemoryBatch, killer: str, victims: set[str] | None = None) -> None:
        self.app, self.killer, self.victims = app, killer, set(victims or ())
        self.calls: list[tuple[set[str], bool]] = []
        self.isolation = StandInIsolation(dies=killer)

    def __call__(self, request: dict[str, Any]) -> Any:
        ids = self.app.ids_of(request)
        isolated = bool(request.get("isolate"))
        self.calls.append((ids, isolated))
        hit = ids & self.victims
        if not isolated and (self.killer in ids or hit):
            self.victims -= hit
            raise RuntimeError(DIED)
        return run_batch(self.app.services, self.app.specs, request, isolation=self.isolation)  # type: ignore[arg-type]

    def runs_of(self, task_id: str) -> list[bool]:
        """Whether each batch that held the task was isolated, in order."""
        return [isolated for ids, isolated in self.calls if task_id in ids]


def tasks_with_killer(count: int, killer_at: int) -> list[dict[str, Any]]:
    tasks = [{"id": f"t{i:03d}", "handler": "t.ok", "input": i} for i in range(count)]
    tasks[killer_at] = {"id": "killer", "handler": "t.ok", "input": -1}
    return tasks


def test_only_the_task_that_kills_its_process_fails_and_every_other_runs_once() -> None:
    app = MemoryBatch(job(tasks_with_killer(250, 137), maxParallelTasks=8), partition_size=100)
    victims = {"t010", "t140", "t141", "t201"}
    host = DyingHost(app, "killer", victims)
    sim = simulate(app, batch=4)
    sim.activities[wire.RUN_BATCH] = host
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "failed" and output["failedTasks"] == ["killer"]
    assert output["taskCounts"]["succeeded"] == 249 and output["taskCounts"]["failed"] == 1
    records = app.records
    assert records.pop("killer") == {"state": "failed", "attempts": 1, "error": f"ProcessDied: {DIED}"}
    assert {(r["state"], r["attempts"]) for r in records.values()} == {("succeeded", 1)}
    assert set(app.attempts.values()) == {1} and "killer" not in app.attempts  # it never returned
    # Its batch died once, then it ran isolated once; the victims' batches died once, then they ran isolated.
    assert host.runs_of("killer") == [False, True]
    for victim in victims:
        assert host.runs_of(victim) == [False, True]


def test_retries_of_a_task_that_kills_its_process_run_isolated_after_their_interval() -> None:
    tasks = tasks_with_killer(20, 5)
    app = MemoryBatch(job(tasks, maxTaskRetryCount=2, retryIntervalSeconds=30))
    host = DyingHost(app, "killer")
    sim = simulate(app)
    sim.activities[wire.RUN_BATCH] = host
    sim.run_with_time()
    assert app.records["killer"] == {"state": "failed", "attempts": 3, "error": f"ProcessDied: {DIED}"}
    assert host.runs_of("killer") == [False, True, True, True]
    assert Counter(r["state"] for r in app.records.values()) == Counter({"succeeded": 19, "failed": 1})


def test_a_batch_whose_earlier_delivery_died_runs_isolated() -> None:
    app = MemoryBatch(job([{"id": f"t{i}", "handler": "t.ok", "input": i} for i in range(3)], taskBatchSize=3))
    sim = simulate(app)
    requests: list[dict[str, Any]] = []

    def redelivered(request: dict[str, Any]) -> Any:
        requests.append(request)
        if len(requests) == 1:  # as RUN_BATCH answers a delivery that found its predecessor's row
            return {
                "retry": [],
                "failed": [],
                "other": [],
                "busyMs": 0,
                "ran": 0,
                "interrupted": "its process died: ...",
            }
        return run_batch(app.services, app.specs, request, isolation=StandInIsolation(dies="none"))  # type: ignore[arg-type]

    sim.activities[wire.RUN_BATCH] = redelivered
    sim.run_with_time()
    assert [bool(r.get("isolate")) for r in requests] == [False, True]
    assert requests[0]["batch"] != requests[1]["batch"]
    assert {(r["state"], r["attempts"]) for r in app.records.values()} == {("succeeded", 1)}


def test_a_batch_that_cannot_run_runs_again_after_a_pause() -> None:
    app = MemoryBatch(job([{"id": f"t{i}", "handler": "t.ok", "input": i} for i in range(3)], taskBatchSize=3))
    sim = simulate(app)
    calls: list[Any] = []

    def flaky_storage(request: dict[str, Any]) -> Any:
        calls.append(sim.now)
        if len(calls) <= 2:
            raise RuntimeError("the table service is out of reach")
        return run_batch(app.services, app.specs, request)  # type: ignore[arg-type]

    sim.activities[wire.RUN_BATCH] = flaky_storage
    sim.run()
    assert len(calls) == 1  # the next run waits for its pause
    sim.run_with_time()
    assert len(calls) == 3 and (calls[1] - calls[0]).total_seconds() == 2.0
    assert {(r["state"], r["attempts"]) for r in app.records.values()} == {("succeeded", 1)}
    assert sim.instances["job-1"].output["state"] == "succeeded"


def test_a_batch_that_never_runs_fails_its_tasks_after_the_bound() -> None:
    app = MemoryBatch(job([{"id": "a", "handler": "t.ok", "input": 1}]))
    sim = simulate(app)
    calls: list[Any] = []

    def away(request: dict[str, Any]) -> Any:
        calls.append(request)
        raise RuntimeError("the table service is out of reach")

    sim.activities[wire.RUN_BATCH] = away
    sim.run_with_time()
    assert len(calls) == MAX_RUNS
    assert app.records["a"] == {
        "state": "failed",
        "attempts": 1,
        "error": (
            "the batch that ran this task failed: Activity function 'batch_run_batch' failed: RuntimeError: the "
            "table service is out of reach"
        ),
    }


def test_a_task_whose_batches_die_even_isolated_fails_after_the_bound() -> None:
    app = MemoryBatch(job([{"id": "a", "handler": "t.ok", "input": 1}]))
    sim = simulate(app)
    calls: list[bool] = []

    def always_dies(request: dict[str, Any]) -> Any:
        calls.append(bool(request.get("isolate")))
        raise RuntimeError("its process died (signal SIGKILL)")

    sim.activities[wire.RUN_BATCH] = always_dies
    sim.run_with_time()
    assert calls == [False] + [True] * (MAX_DEATHS - 1)
    assert app.records["a"] == {
        "state": "failed",
        "attempts": 1,
        "error": (
            f"ProcessDied: its process died (signal SIGKILL); {MAX_DEATHS} batches that ran this task died without "
            "telling which task ended their process, the last ones running it in a process of its own"
        ),
    }
