"""Jobs of several partition groups, in the simulator: the cap across groups, stops that travel job -> groups ->
partitions, groups that never start, and histories that stay bounded however many partitions the job has."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from durable_batch.batch import wire
from durable_batch.batch.plan import GROUP_SIZE
from tests.support.memory_batch import MemoryBatch, job, simulate
from tests.support.simulator import Instance, Simulator

pytestmark = pytest.mark.unit


def ok_tasks(count: int, **special: str) -> list[dict[str, Any]]:
    """`count` tasks t00000.., handler t.ok unless `special` names another for a task id."""
    ids = [f"t{i:05d}" for i in range(count)]
    return [{"id": task_id, "handler": special.get(task_id, "t.ok"), "input": 1} for task_id in ids]


def of_kind(sim: Simulator, name: str) -> list[Instance]:
    return sorted((i for i in sim.instances.values() if i.name == name), key=lambda i: i.instance_id)


def input_of(instance: Instance) -> dict[str, Any]:
    value = json.loads(instance.input_value)
    parsed: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
    return parsed


def test_the_cap_holds_across_groups_and_every_task_runs_once() -> None:
    assert GROUP_SIZE == 40  # the numbers below
    # 82 partitions of 50: groups of 40, 40 and 2, all three running at once with budgets of 34, 33 and 33.
    app = MemoryBatch(job(ok_tasks(4100), maxParallelTasks=100), partition_size=50)
    sim = simulate(app, batch=25)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "succeeded" and output["taskCounts"]["succeeded"] == 4100
    assert set(app.attempts.values()) == {1} and len(app.attempts) == 4100
    assert 0 < sim.max_weight <= 100
    groups = of_kind(sim, wire.GROUP_ORCHESTRATOR)
    assert [g.instance_id for g in groups] == [wire.group_instance_id("job-1", n) for n in range(3)]
    inputs = [input_of(g) for g in groups]
    assert [(i["firstPartition"], i["partitions"]) for i in inputs] == [(0, 40), (40, 40), (80, 2)]
    assert sorted(i["share"] for i in inputs) == [33, 33, 34]
    assert [g.output["taskCounts"]["total"] for g in groups] == [2000, 2000, 100]
    assert len(of_kind(sim, wire.PARTITION_ORCHESTRATOR)) == 82


def test_cancel_reaches_running_partitions_through_their_groups_and_skips_groups_never_started() -> None:
    # 200 partitions of 10: 5 groups, two running at once; a held task keeps its partition running.
    app = MemoryBatch(job(ok_tasks(2000, t00405="t.slow"), maxParallelTasks=64), partition_size=10)
    sim = simulate(app, batch=5, hold=app.holds("t00405"))
    sim.run(until=lambda: sum(app.attempts.values()) >= 150)
    assert sim.instances[wire.group_instance_id("job-1", 1)].status == "Running"
    sim.raise_event("job-1", wire.CANCEL_EVENT, "cancel")
    sim.run_with_time()

    output = sim.instances["job-1"].output
    assert output["state"] == "cancelled"
    counts = output["taskCounts"]
    assert counts["total"] == 2000 and counts["succeeded"] + counts["skipped"] + counts["cancelled"] == 2000
    assert counts["failed"] == 0 and counts["cancelled"] >= 1
    assert len(app.records) == 2000
    # The held task's partition ended only because the stop event reached it, through its group.
    assert app.records["t00405"]["state"] == "cancelled" and "cancelled" in app.records["t00405"]["error"]
    held = wire.partition_instance_id("job-1", 40)
    assert any(held in stop["instanceIds"] for stop in app.stops)
    first = app.stops[0]
    assert first["reason"] == "cancel" and all(":g" in i for i in first["instanceIds"])
    assert all(stop["reason"] == "cancel" for stop in app.stops)
    # Groups 2.. never started: they ran once with skipAll and so did their partitions, without running a task.
    never = [g for g in of_kind(sim, wire.GROUP_ORCHESTRATOR) if input_of(g).get("skipAll")]
    assert [g.instance_id for g in never] == [wire.group_instance_id("job-1", n) for n in (2, 3, 4)]
    assert all(g.output["taskCounts"]["skipped"] == g.output["taskCounts"]["total"] for g in never)
    assert max(int(task_id[1:]) for task_id in app.attempts) < 2 * GROUP_SIZE * 10
    assert sim.instances[wire.group_instance_id("job-1", 0)].output["cancelled"] is True


def test_terminate_job_in_one_group_stops_the_others_before_it_returns() -> None:
    # 80 partitions of 10: 2 groups with budgets of 64, each running 2 partitions at once. t00003 fails in
    # partition 0; held tasks keep partition 1 (group 0) and partition 41 (group 1) running.
    held = {"t00015", "t00415"}
    app = MemoryBatch(
        job(ok_tasks(800, t00003="t.fail"), maxParallelTasks=128, onTaskFailure="terminateJob"), partition_size=10
    )
    sim = simulate(app, batch=5, hold=lambda name, request: app.holds(*held)(name, request))
    sim.run_with_time()
    # Group 0 cannot return yet, and still group 1 was told: it stopped starting partitions.
    assert sim.instances[wire.group_instance_id("job-1", 0)].status == "Running"
    assert any("job-1" in stop["instanceIds"] and stop["reason"] == "terminate" for stop in app.stops)
    group_1_partitions = {wire.partition_instance_id("job-1", n) for n in (40, 41)}
    assert any(set(stop["instanceIds"]) & group_1_partitions for stop in app.stops)
    started = {int(task_id[1:]) for task_id in app.attempts}
    # Group 1 (partitions 40..79) ran a partition or two more while the stop travelled, not the other 38.
    assert max(started) < 450, "group 1 went on starting partitions after the job stopped"

    held.clear()
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "failed" and output["failedTasks"] == ["t00003"]
    counts = output["taskCounts"]
    assert counts["failed"] == 1 and counts["succeeded"] + counts["failed"] + counts["skipped"] == 800
    assert counts["skipped"] > 700 and len(app.records) == 800
    assert max(app.attempts.values()) == 1
    terminated = Counter(g.output["terminated"] for g in of_kind(sim, wire.GROUP_ORCHESTRATOR))
    assert terminated == Counter({True: 1, False: 1})


def test_histories_stay_bounded_for_the_job_its_groups_and_partitions() -> None:
    app = MemoryBatch(job(ok_tasks(20_000), maxParallelTasks=200), partition_size=50)
    sim = simulate(app, batch=100)
    sim.run_with_time()
    assert sim.instances["job-1"].output["taskCounts"]["succeeded"] == 20_000
    assert sim.max_weight <= 200
    groups = of_kind(sim, wire.GROUP_ORCHESTRATOR)
    partitions = of_kind(sim, wire.PARTITION_ORCHESTRATOR)
    assert (len(groups), len(partitions)) == (10, 400)
    # A few events per child: the job's history grows with its groups, a group's with its partitions, a
    # partition's with its tasks; none with the job's size.
    assert len(sim.instances["job-1"].history) < 10 * 8 + 40
    assert max(len(g.history) for g in groups) < GROUP_SIZE * 8 + 40
    assert max(len(p.history) for p in partitions) < 50 * 8
