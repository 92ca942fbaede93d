"""A job's cost (`durable_batch.batch.cost`): the durable work its orchestrations did, read from their histories, and
the
storage requests its activities reported, summed up the tree into the job's output and custom statuses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from devhost.history import EventType
from durable_batch.batch import wire
from durable_batch.batch.cost import Cost
from durable_batch.orchestrators.cost import StorageTally
from tests.support.memory_batch import MemoryBatch, job, simulate
from tests.support.simulator import Simulator

pytestmark = pytest.mark.unit


class ReportingBatch(MemoryBatch):
    """MemoryBatch whose activities report storage requests as the registered ones do: each output that is an
    object says it made a table read per range of tasks it was given, and one blob write."""

    def __init__(self, body: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        self.reported: Counter[str] = Counter()

    def activities(self) -> dict[str, Any]:
        def reporting(call: Callable[[Any], Any]) -> Callable[[Any], Any]:
            def run(request: Any) -> Any:
                output = call(request)
                if isinstance(output, dict):
                    reads = len(request.get("tasks", ())) if isinstance(request, dict) else 0
                    output["storage"] = {"tableReads": reads, "blobWrites": 1, "somethingElse": 5}
                    self.reported["tableReads"] += reads
                    self.reported["blobWrites"] += 1
                return output

            return run

        # FINISH_JOB reports nothing: it writes the summary that holds the cost (as registered).
        return {
            name: call if name == wire.FINISH_JOB else reporting(call) for name, call in super().activities().items()
        }


def figures_of(types: list[int], *, returned: bool) -> Cost:
    """The durable work one orchestration's history shows (its event types, in order). One that has not returned
    reports what its last episode was given: not what that episode decided (scheduled, sent, its end)."""
    starts = [i for i, kind in enumerate(types) if kind == EventType.ORCHESTRATOR_STARTED]
    given = types[: starts[-1] + 1] + [k for k in types[starts[-1] + 1 :] if k not in _DECIDED]
    counted = types if returned else given
    return Cost(
        orchestrations=1,
        episodes=len(starts),
        history_events=len(counted),
        replayed_events=sum(starts[1:]) + len(given),  # each episode went through the history up to its end
        activity_calls=counted.count(EventType.TASK_SCHEDULED),
        timers=counted.count(EventType.TIMER_CREATED),
    )


def history_figures(sim: Simulator, *, leave_out: str = "") -> Cost:
    """The durable work of every orchestration in the simulation (but `leave_out`), from its history as stored."""
    return sum(
        (
            figures_of([event["EventType"] for event in i.history], returned=i.status == "Completed")
            for i in sim.instances.values()
            if i.instance_id != leave_out
        ),
        Cost(),
    )


_DECIDED = {
    EventType.TASK_SCHEDULED,
    EventType.TIMER_CREATED,
    EventType.SUB_ORCHESTRATION_CREATED,
    EventType.EVENT_SENT,
    EventType.ORCHESTRATOR_COMPLETED,
    EventType.EXECUTION_COMPLETED,
}
"""Events an episode adds by deciding: not in the history it was given."""


def test_a_finished_jobs_cost_is_every_orchestrations_history_and_every_activitys_storage() -> None:
    tasks = [{"id": f"t{i:03d}", "handler": "t.ok", "input": i} for i in range(250)]
    tasks += [{"id": "flaky", "handler": "t.flaky", "input": {"failures": 1, "n": 0}}]
    app = ReportingBatch(job(tasks, maxParallelTasks=8, maxTaskRetryCount=1), partition_size=100)
    sim = simulate(app)
    sim.run_with_time()
    output = sim.instances[app.spec.id].output
    assert output["state"] == "succeeded"
    assert all(i.status == "Completed" for i in sim.instances.values())
    assert len(sim.instances) == 1 + 1 + 3  # the job, its group, three partitions

    # Below the job, every figure is exact: each orchestration reported its own history when it returned.
    below = Cost.from_json(sim.instances[f"{app.spec.id}:g0000"].output["cost"])
    assert replace(below, storage={}) == history_figures(sim, leave_out=app.spec.id)
    # The job's own is its history as the step that wrote its summary saw it: the summary's call and the job's
    # last episode are not in it, so what a finished job shows never changes.
    cost = Cost.from_json(output["cost"])
    job_types = [event["EventType"] for event in sim.instances[app.spec.id].history]
    last_episode = max(i for i, kind in enumerate(job_types) if kind == EventType.ORCHESTRATOR_STARTED)
    own = figures_of(job_types[:last_episode], returned=False)
    assert replace(cost, storage={}) == replace(below + own, storage={})
    assert own.activity_calls == job_types.count(EventType.TASK_SCHEDULED) - 1  # all but the summary's
    assert cost.timers >= 1  # the flaky task's retry waited on one
    # Every activity's report reached the job once, and kinds that are no storage request were dropped.
    assert dict(cost.storage) == {"tableReads": app.reported["tableReads"], "blobWrites": app.reported["blobWrites"]}
    assert app.reported["blobWrites"] >= 5  # at least a prepare, a load and a batch of each partition, an audit
    written = app.services.results.read_summary(app.spec.id)
    assert written is not None and written["cost"] == output["cost"]


def test_a_running_jobs_statuses_add_up_to_what_it_has_cost_so_far() -> None:
    tasks = [{"id": f"t{i:03d}", "handler": "t.ok", "input": i} for i in range(120)]
    app = ReportingBatch(job(tasks, maxParallelTasks=4), partition_size=50)
    sim = simulate(app, hold=app.holds("t110"))
    sim.run()
    job_status = sim.instances[app.spec.id].custom_status
    running = [sim.instances[i] for i in job_status["running"]]
    partitions = [sim.instances[p] for g in running for p in g.custom_status["running"]]
    assert partitions, "a partition should still run, holding its last batch"
    statuses = [job_status, *(g.custom_status for g in running), *(p.custom_status for p in partitions)]
    live = sum((Cost.from_json(s["cost"]) for s in statuses), Cost())
    # Each running orchestration's status is its history as its last episode was given it.
    assert replace(live, storage={}) == history_figures(sim)
    assert 0 < sum(live.storage.values()) <= sum(app.reported.values())


def test_a_storage_tally_sums_only_counts_of_known_kinds_and_shows_each_change() -> None:
    tally = StorageTally()
    own = Cost(episodes=2)
    tally.add({"storage": {"tableReads": 3, "blobWrites": True, "tableWrites": -1, "somethingElse": 9}})
    tally.add({"storage": "not counts"})
    tally.add(["not an output"])
    tally.add({"storage": {"tableReads": 1, "blobWrites": 2}})
    shown = tally.cost_json(own)
    assert shown == (own + Cost(storage={"tableReads": 4, "blobWrites": 2})).to_json()
    assert tally.cost_json(own) is shown  # nothing changed: the same JSON, not composed again
    tally.add({"storage": {"blobReads": 1}})
    assert tally.cost_json(own)["storageRequests"]["blobReads"] == 1
    later = Cost(episodes=3)
    assert tally.cost_json(later)["episodes"] == 3
