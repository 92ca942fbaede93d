"""Live changes of a running job, in memory: a new cap, disable and enable, through the job's control event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable_batch.batch import wire
from durable_batch.batch.slots import Ledger
from durable_batch.orchestrators.fanout import rebalance
from tests.support.memory_batch import MemoryBatch, job, simulate
from tests.support.simulator import Simulator

pytestmark = pytest.mark.unit


def ok_tasks(count: int) -> list[dict[str, Any]]:
    return [{"id": f"t{i:05d}", "handler": "t.ok", "input": i} for i in range(count)]


def change(sim: Simulator, number: int, cap: int, *, disabled: bool = False, tolerated: float = 0) -> None:
    """Raise the job's `number`th control event with its whole new settings, as the job API does."""
    body = {"maxParallelTasks": cap, "toleratedFailurePercentage": tolerated, "disabled": disabled}
    sim.raise_event("job-1", wire.control_event(number), body)


def in_effect(app: MemoryBatch, sim: Simulator) -> bool:
    """Every running partition has taken the last share sent to it, and runs no more than it."""
    given: dict[str, int] = {}
    for request in app.shares:
        given.update(zip(request["instanceIds"], request["shares"], strict=True))
    partitions = [i for i in sim.instances.values() if i.name == wire.PARTITION_ORCHESTRATOR and i.status == "Running"]
    if not any(i.instance_id in given for i in partitions):
        return False
    for instance in partitions:
        status = instance.custom_status or {}
        if not status:
            continue  # still loading its plan: it runs nothing yet, and starts under its input's share
        wanted = given.get(instance.instance_id, status.get("share"))
        if status.get("share") != wanted or status.get("taskCounts", {}).get("running", 0) > wanted:
            return False
    return True


def test_rebalance_splits_a_new_budget_as_at_the_start_and_never_over_it() -> None:
    # Fewer slots than running children: some get none until a share comes free.
    assert rebalance(2, 3, 0) == ([1, 1, 0], [])
    assert rebalance(7, 3, 10) == ([3, 2, 2], [])
    # More slots: the running children and the children to start share them, one per 32 slots.
    assert rebalance(100, 1, 5) == ([34], [33, 33])
    # Nothing left to start: the running children share all of it.
    assert rebalance(100, 2, 0) == ([50, 50], [])
    assert rebalance(0, 2, 5) == ([0, 0], [])
    for budget in range(0, 70):
        for running in range(0, 5):
            for waiting in range(0, 4):
                shares, free = rebalance(budget, running, waiting)
                assert len(shares) == running and sum(shares) + sum(free) <= budget
                assert all(s > 0 for s in free)


def test_a_lower_cap_holds_once_the_batches_started_under_the_old_one_have_ended() -> None:
    # 20 partitions of 100 in one group, two at a time with 32 task slots each; the cap drops to 7 mid-job.
    app = MemoryBatch(job(ok_tasks(2000), maxParallelTasks=64, taskBatchSize=1), partition_size=100)
    sim = simulate(app, batch=10)
    sim.run(until=lambda: sum(app.attempts.values()) >= 300)
    assert sim.max_weight > 7
    change(sim, 1, 7)
    # In effect once every running partition has taken its new share and holds no more slots than that.
    sim.run(until=lambda: in_effect(app, sim))
    sim.max_weight = sim.weight
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "succeeded" and output["taskCounts"]["succeeded"] == 2000
    assert sim.max_weight <= 7
    assert max(app.attempts.values()) == 1
    # The new shares went to the running group and from it to its running partitions.
    assert any(wire.group_instance_id("job-1", 0) in r["instanceIds"] for r in app.shares)
    assert any(":p" in i for r in app.shares for i in r["instanceIds"])


def test_a_higher_cap_is_used_by_the_running_partitions() -> None:
    app = MemoryBatch(job(ok_tasks(400), maxParallelTasks=2, taskBatchSize=1), partition_size=400)
    sim = simulate(app, batch=50)
    sim.run(until=lambda: sum(app.attempts.values()) >= 10)
    assert sim.max_weight <= 2
    change(sim, 1, 20)
    sim.run_with_time()
    assert sim.instances["job-1"].output["taskCounts"]["succeeded"] == 400
    assert 2 < sim.max_weight <= 20


def test_a_disabled_job_starts_no_task_until_it_is_enabled() -> None:
    app = MemoryBatch(job(ok_tasks(1000), maxParallelTasks=20, taskBatchSize=1), partition_size=500)
    sim = simulate(app, batch=10)
    sim.run(until=lambda: sum(app.attempts.values()) >= 100)
    change(sim, 1, 20, disabled=True)
    sim.run_with_time()
    # Everything settles: the batches in flight ended, and nothing started after them.
    ran = sum(app.attempts.values())
    assert sim.instances["job-1"].status == "Running" and sim.weight == 0
    assert sim.instances["job-1"].custom_status["state"] == "disabled"
    assert ran < 1000
    sim.run_with_time()
    assert sum(app.attempts.values()) == ran
    change(sim, 2, 20)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "succeeded" and output["taskCounts"]["succeeded"] == 1000
    assert max(app.attempts.values()) == 1 and sim.max_weight <= 20


def test_a_disabled_job_can_be_cancelled() -> None:
    app = MemoryBatch(job(ok_tasks(1000), maxParallelTasks=20, taskBatchSize=1), partition_size=500)
    sim = simulate(app, batch=10)
    sim.run(until=lambda: sum(app.attempts.values()) >= 100)
    change(sim, 1, 20, disabled=True)
    sim.run_with_time()
    sim.raise_event("job-1", wire.CANCEL_EVENT, "cancel")
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "cancelled"
    counts = output["taskCounts"]
    assert counts["succeeded"] + counts["skipped"] + counts["cancelled"] == 1000 and counts["skipped"] > 0


def test_a_raised_tolerance_decides_how_the_job_ends() -> None:
    tasks = [{"id": f"t{i}", "handler": "t.fail" if i < 2 else "t.ok", "input": i} for i in range(10)]
    app = MemoryBatch(job(tasks, toleratedFailurePercentage=0, maxParallelTasks=1, taskBatchSize=1))
    sim = simulate(app, batch=1)
    sim.run(until=lambda: sum(app.attempts.values()) >= 1)
    change(sim, 1, 1, tolerated=25)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "succeeded" and output["taskCounts"]["failed"] == 2
    assert "25%" in output["reason"]


def ledger(sim: Simulator, pool_id: str) -> Ledger:
    """The pool's ledger as its entity keeps it."""
    key = next((k for k in sim.entity_states if k.lower() == f"@{wire.POOL_ENTITY}@{pool_id}".lower()), None)
    return Ledger.from_json(sim.entity_states.get(key) if key is not None else None)


def test_a_job_moved_to_another_pool_runs_on_its_slots_once_its_batches_in_the_old_one_end() -> None:
    # Five partitions of 80 under a cap of 20 in the default pool; mid-job it moves to a pool of 3 slots.
    app = MemoryBatch(job(ok_tasks(400), maxParallelTasks=20, taskBatchSize=1), partition_size=80)
    sim = simulate(app, batch=10)
    sim.run(until=lambda: sum(app.attempts.values()) >= 60)
    assert sim.max_weight > 3
    small: wire.PoolRef = {"id": "small", "slots": 3, "version": 1, "priority": 0, "priorityVersion": 0}
    sim.raise_event("job-1", wire.control_event(1), {"maxParallelTasks": 20, "pool": small})
    # In effect once no partition holds (or asks for) slots of the default pool any more.
    sim.run(until=lambda: any(":p" in i for r in app.shares for i in r["instanceIds"]))
    sim.run(until=lambda: not ledger(sim, "default").holders)
    sim.max_weight = sim.weight
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "succeeded" and output["taskCounts"]["succeeded"] == 400
    assert max(app.attempts.values()) == 1
    assert sim.max_weight <= 3
    # The move reached the running partitions, and later partitions started in the new pool.
    assert all(r.get("pool") == small for r in app.shares)
    started_later = [i for i in sim.instances.values() if i.name == wire.PARTITION_ORCHESTRATOR]
    assert any((json.loads(i.input_value).get("pool") or {}).get("id") == "small" for i in started_later)
    # Both pools are free at the end: the job left each.
    assert ledger(sim, "small").slots == 3
    assert not ledger(sim, "small").holders and not ledger(sim, "default").holders
    assert not ledger(sim, "small").priorities and not ledger(sim, "default").priorities
