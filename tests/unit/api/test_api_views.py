"""How a job's answer is composed from its record, its orchestration and its partitions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from durable_batch.api.views import Links, ResultsLocation, job_summary, job_view, task_view
from durable_batch.batch.cost import Cost
from durable_batch.batch.states import TaskCounts
from durable_batch.operations.durable import Instance
from durable_batch.operations.status import (
    JobFacts,
    compose_cost,
    compose_counts,
    derive_status,
    partition_total,
    running_children,
)
from durable_batch.storage.jobs import JobRecord, JobState
from durable_batch.storage.jobs import TaskCounts as RecordCounts
from durable_batch.storage.tasks import TaskRecord, TaskState

pytestmark = pytest.mark.unit

CREATED = datetime(2026, 11, 7, 12, 0, 0, 123456, tzinfo=UTC)
LINKS = Links("http://h/api", "http://blob/batch-results/j/")
RESULTS = ResultsLocation("batch-results", "j/", "http://blob/batch-results/j/")


def record(state: JobState = JobState.RUNNING, total: int = 10, **kwargs: Any) -> JobRecord:
    return JobRecord("j", state, CREATED, task_counts=RecordCounts(total=total, pending=total), **kwargs)


def counts(total: int, pending: int, running: int, succeeded: int, failed: int, skipped: int) -> dict[str, int]:
    return TaskCounts(total, pending, running, succeeded, failed, skipped).to_json()


def test_running_counts_add_finished_and_live_partitions_and_count_unstarted_ones_pending() -> None:
    finished = counts(4, 0, 0, 3, 1, 0)
    live = [{"taskCounts": counts(4, 1, 2, 1, 0, 0)}, None, {"taskCounts": "garbage"}]
    result = compose_counts(12, finished, live)
    assert result == TaskCounts(total=12, pending=1 + 4, running=2, succeeded=4, failed=1, skipped=0)


def test_partition_sums_win_over_a_smaller_total() -> None:
    assert compose_counts(0, counts(3, 0, 0, 3, 0, 0), ()).total == 3


def test_counts_read_defensively() -> None:
    assert TaskCounts.from_json({"total": 2, "succeeded": True, "failed": -1, "running": "x"}) == TaskCounts(
        2, 0, 0, 0, 0, 0
    )
    assert TaskCounts.from_json(None) == TaskCounts(0, 0, 0, 0, 0, 0)


def test_custom_status_helpers() -> None:
    custom = {"running": ["j:g0001", 3], "partitions": {"total": 70, "finished": 2}, "groups": {"total": 2}}
    assert running_children(custom) == ["j:g0001"]
    assert partition_total(custom) == 70 and partition_total(custom, "groups") == 2
    assert running_children("x") == [] and partition_total({"partitions": {"total": -1}}) is None


def test_running_counts_add_finished_groups_running_groups_and_their_live_partitions() -> None:
    # Job: groups finished with 40 tasks; running group g1: partitions finished with 20 tasks, running
    # partition p3: 10 tasks live; 30 tasks in partitions not started yet.
    custom = {"state": "running", "taskCounts": counts(40, 0, 0, 39, 1, 0), "running": ["j:g0001"]}
    group = {"taskCounts": counts(20, 0, 0, 18, 0, 2), "running": ["j:p00003"]}
    partition = {"taskCounts": counts(10, 4, 5, 1, 0, 0)}
    facts = JobFacts("j", record(total=100), Instance("Running", custom), (group, partition))
    assert derive_status(facts).counts == TaskCounts(100, 4 + 30, 5, 39 + 18 + 1, 1, 2)


def test_not_started_job_is_its_record() -> None:
    status = derive_status(JobFacts("j", record(JobState.PENDING)))
    assert (status.state, status.finished, status.counts.pending) == ("pending", False, 10)


def test_running_job_counts_come_from_the_orchestrations() -> None:
    custom = {"state": "running", "taskCounts": counts(5, 0, 0, 5, 0, 0), "running": ["j:p00001"]}
    facts = JobFacts("j", record(), Instance("Running", custom), ({"taskCounts": counts(5, 2, 3, 0, 0, 0)},))
    status = derive_status(facts)
    assert status.state == "running" and not status.cancel_requested
    assert status.counts == TaskCounts(10, 2, 3, 5, 0, 0)


def test_a_requested_cancel_shows_as_running_with_cancel_requested() -> None:
    by_record = derive_status(JobFacts("j", record(JobState.CANCELLING)))
    by_status = derive_status(JobFacts("j", record(), Instance("Running", {"state": "cancelling"})))
    assert (by_record.state, by_record.cancel_requested) == ("running", True)
    assert (by_status.state, by_status.cancel_requested) == ("running", True)


def test_pending_instance_is_pending() -> None:
    assert derive_status(JobFacts("j", record(JobState.PENDING), Instance("Pending"))).state == "pending"


def test_finished_job_is_exact_from_the_output() -> None:
    output = {
        "jobId": "j",
        "state": "failed",
        "reason": "2 of 10 tasks failed",
        "taskCounts": counts(10, 0, 0, 8, 2, 0),
        "failedTasks": ["a", "b"],
        "reduce": None,
        "startedAt": "2026-11-07T12:00:01.5+00:00",
        "endedAt": "2026-11-07T12:00:09+00:00",
        "summaryBlob": "j/summary.json",
    }
    view = job_view(JobFacts("j", record(), Instance("Completed", output=output)), LINKS, RESULTS)
    assert view["state"] == "failed" and view["reason"] == "2 of 10 tasks failed"
    assert view["taskCounts"] == counts(10, 0, 0, 8, 2, 0)
    assert view["failedTasks"] == ["a", "b"] and view["reduce"] is None
    assert (view["startedAt"], view["endedAt"]) == ("2026-11-07T12:00:01.500Z", "2026-11-07T12:00:09.000Z")
    assert view["results"]["summaryBlob"] == "j/summary.json"


def test_a_crashed_orchestrator_is_a_failed_job_with_its_message() -> None:
    updated = datetime(2026, 11, 7, 12, 5, tzinfo=UTC)
    custom = {"taskCounts": counts(5, 0, 0, 5, 0, 0)}
    status = derive_status(JobFacts("j", record(), Instance("Failed", custom, "boom", last_updated=updated)))
    assert status.state == "failed" and status.finished
    assert status.reason == "the job orchestrator failed: boom"
    assert status.counts == TaskCounts(10, 5, 0, 5, 0, 0)
    assert status.ended_at == "2026-11-07T12:05:00.000Z"


def test_a_terminated_orchestration_is_a_cancelled_job() -> None:
    status = derive_status(JobFacts("j", record(), Instance("Terminated", output="stop")))
    assert status.state == "cancelled" and status.reason == "the job orchestration was terminated: stop"


def test_a_final_record_wins_while_the_orchestrator_returns() -> None:
    final = JobRecord("j", JobState.SUCCEEDED, CREATED, task_counts=RecordCounts(total=3, succeeded=3))
    status = derive_status(JobFacts("j", final, Instance("Running", {"state": "running"})))
    assert status.state == "succeeded" and status.counts == TaskCounts(3, 0, 0, 3, 0, 0)


def test_a_final_record_with_its_summary_is_the_finished_view_while_the_orchestrator_returns() -> None:
    final = JobRecord("j", JobState.FAILED, CREATED, task_counts=RecordCounts(total=3, succeeded=2, failed=1))
    summary = {
        "state": "failed",
        "reason": "1 of 3 tasks failed",
        "taskCounts": counts(3, 0, 0, 2, 1, 0),
        "failedTasks": ["c"],
        "reduce": None,
        "summaryBlob": "j/summary.json",
    }
    facts = JobFacts("j", final, Instance("Running", {"state": "running"}), summary=summary)
    view = job_view(facts, LINKS, RESULTS)
    assert view["state"] == "failed" and view["reason"] == "1 of 3 tasks failed"
    assert view["failedTasks"] == ["c"] and view["reduce"] is None
    assert view["results"]["summaryBlob"] == "j/summary.json"


def test_view_has_links_results_and_times() -> None:
    view = job_view(JobFacts("j", record(JobState.PENDING)), LINKS, RESULTS)
    assert view["links"] == {
        "self": "http://h/api/jobs/j",
        "tasks": "http://h/api/jobs/j/tasks",
        "cancel": "http://h/api/jobs/j/cancel",
        "results": "http://blob/batch-results/j/",
    }
    assert view["results"] == {
        "container": "batch-results",
        "prefix": "j/",
        "url": "http://blob/batch-results/j/",
        "specBlob": "j/job.json",
        "summaryBlob": None,
    }
    assert view["createdAt"] == "2026-11-07T12:00:00.123Z"
    assert "failedTasks" not in view


def test_a_listed_job_has_the_state_phase_and_live_counts_of_its_view() -> None:
    custom = {"state": "running", "taskCounts": counts(40, 0, 0, 40, 0, 0), "running": ["j:g0000"]}
    live = ({"taskCounts": counts(30, 10, 4, 16, 0, 0)},)
    facts = JobFacts("j", record(total=100), Instance("Running", custom), live)
    view, summary = job_view(facts, LINKS, RESULTS), job_summary(facts.record, LINKS, facts)
    assert summary["taskCounts"] == view["taskCounts"] == counts(100, 40, 4, 56, 0, 0)
    assert (summary["state"], summary["phase"]) == (view["state"], view["phase"]) == ("running", "running")
    # Without its status (a finished job's record is exact), the record alone.
    assert job_summary(facts.record, LINKS)["taskCounts"] == counts(100, 100, 0, 0, 0, 0)


def test_summary_and_task_views() -> None:
    summary = job_summary(record(JobState.CANCELLING), LINKS)
    assert summary["state"] == "running" and summary["cancelRequested"] is True
    assert summary["links"] == {"self": "http://h/api/jobs/j"}
    task = TaskRecord("t-1", TaskState.FAILED, attempts=3, error="bad", start_time=CREATED, partition=0)
    assert task_view(task) == {
        "id": "t-1",
        "state": "failed",
        "attempts": 3,
        "error": "bad",
        "startedAt": "2026-11-07T12:00:00.123Z",
        "endedAt": None,
        "partition": 0,
    }


@pytest.mark.parametrize(
    ("state", "instance", "phase"),
    [
        (JobState.PENDING, None, "pending"),
        (JobState.RUNNING, Instance("Running"), "planning"),
        (JobState.RUNNING, Instance("Running", custom_status={"state": "running", "taskCounts": {}}), "running"),
        (JobState.RUNNING, Instance("Running", custom_status={"state": "reducing", "taskCounts": {}}), "reducing"),
        (JobState.CANCELLING, Instance("Running", custom_status={"state": "running"}), "cancelling"),
        (JobState.RUNNING, Instance("Running", custom_status={"state": "cancelling"}), "cancelling"),
    ],
)
def test_the_phase_says_what_a_running_job_is_doing(state: JobState, instance: Instance | None, phase: str) -> None:
    assert job_view(JobFacts("j", record(state), instance), LINKS, RESULTS)["phase"] == phase


def test_a_finished_job_is_in_its_finished_phase() -> None:
    output = {"state": "succeeded", "reason": "all 10 tasks succeeded", "taskCounts": {"total": 10, "succeeded": 10}}
    view = job_view(JobFacts("j", record(), Instance("Completed", output=output)), LINKS, RESULTS)
    assert (view["state"], view["phase"]) == ("succeeded", "finished")


def test_a_rerun_not_started_yet_is_its_record_not_the_earlier_runs_instance() -> None:
    from durable_batch.operations.control import current_run

    earlier = Instance("Completed", output={"state": "failed", "taskCounts": counts(10, 0, 0, 8, 2, 0)}, input={})
    rerun = record(JobState.PENDING, run=2, runs=({"number": 1, "kept": 0}, {"number": 2, "kept": 8}))
    assert current_run(rerun, earlier) is None
    view = job_view(JobFacts("j", rerun, current_run(rerun, earlier)), LINKS, RESULTS)
    assert view["state"] == "pending" and [run["number"] for run in view["runs"]] == [1, 2]
    assert view["runs"][1]["state"] == "pending"
    started = Instance("Running", custom_status={"taskCounts": counts(10, 0, 1, 8, 0, 0)}, input={"run": 2})
    assert current_run(rerun, started) is started
    running = job_view(JobFacts("j", rerun, started), LINKS, RESULTS)
    assert running["state"] == "running" and running["runs"][1]["taskCounts"]["total"] == 2
    # A job never re-run shows its one run, its counts the job's.
    first = job_view(JobFacts("j", record(JobState.RUNNING)), LINKS, RESULTS)
    assert [(run["number"], run["taskCounts"]["total"]) for run in first["runs"]] == [(1, 10)]


def cost(episodes: int, blob_writes: int = 0) -> dict[str, Any]:
    return Cost(orchestrations=1, episodes=episodes, storage={"blobWrites": blob_writes}).to_json()


def test_a_running_jobs_cost_adds_up_the_statuses_of_the_job_its_running_groups_and_their_partitions() -> None:
    custom = {"taskCounts": counts(5, 0, 0, 5, 0, 0), "cost": cost(4, 1), "running": ["j:g0000"]}
    group = {"taskCounts": counts(3, 0, 0, 3, 0, 0), "cost": cost(7, 2), "running": ["j:p00001"]}
    partition = {"taskCounts": counts(2, 1, 1, 0, 0, 0), "cost": cost(11, 5)}
    older = {"taskCounts": counts(2, 2, 0, 0, 0, 0)}  # a status from a version that did not count: none
    facts = JobFacts("j", record(), Instance("Running", custom), (group, partition, older))
    view = job_view(facts, LINKS, RESULTS)
    assert view["cost"]["orchestrations"] == 3 and view["cost"]["episodes"] == 22
    assert view["cost"]["storageRequests"]["blobWrites"] == view["cost"]["storageRequests"]["total"] == 8
    assert compose_cost([custom, group, partition, older, "not a status"]) == Cost.from_json(view["cost"])


def test_a_jobs_cost_is_none_before_it_started_or_where_its_version_did_not_count_it() -> None:
    assert job_view(JobFacts("j", record(JobState.PENDING)), LINKS, RESULTS)["cost"] is None
    running = JobFacts("j", record(), Instance("Running", {"taskCounts": counts(5, 5, 0, 0, 0, 0)}))
    assert job_view(running, LINKS, RESULTS)["cost"] is None
    output: dict[str, Any] = {
        "state": "succeeded",
        "taskCounts": counts(3, 0, 0, 3, 0, 0),
        "failedTasks": [],
        "reduce": None,
    }
    assert job_view(JobFacts("j", record(), Instance("Completed", output=output)), LINKS, RESULTS)["cost"] is None


def test_a_finished_jobs_cost_is_its_outputs_or_its_summarys_while_it_returns() -> None:
    output: dict[str, Any] = {
        "state": "succeeded",
        "taskCounts": counts(3, 0, 0, 3, 0, 0),
        "failedTasks": [],
        "reduce": None,
        "cost": cost(9, 3),
    }
    returned = job_view(JobFacts("j", record(), Instance("Completed", output=output)), LINKS, RESULTS)
    final = JobRecord("j", JobState.SUCCEEDED, CREATED, task_counts=RecordCounts(total=3, succeeded=3))
    returning = JobFacts("j", final, Instance("Running", {"cost": cost(1)}), summary=output)
    assert returned["cost"] == job_view(returning, LINKS, RESULTS)["cost"] == cost(9, 3)
    crashed = JobFacts("j", record(), Instance("Failed", {"taskCounts": counts(5, 0, 0, 5, 0, 0), "cost": cost(6)}))
    assert job_view(crashed, LINKS, RESULTS)["cost"] == cost(6)
