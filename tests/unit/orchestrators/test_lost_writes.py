"""A job on storage that loses writes it acknowledged (`lossy`): before it says succeeded, the job audits its
records and results (AUDIT_JOB), so a lost record or result fails the job with the tasks named, never makes a
success; a re-run then runs exactly those tasks."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest

from durable_batch.activities.audit import LOST_ERROR
from durable_batch.batch import wire
from durable_batch.batch.records import chunk_key
from durable_batch.storage.jobs import JobState
from durable_batch.storage.rows import Delete, Put
from tests.support.lossy import LossyBlobs, LossyRows
from tests.support.memory_batch import MemoryBatch, job, simulate

pytestmark = pytest.mark.unit


def lossy_app(tasks: int = 600, **fields: Any) -> tuple[MemoryBatch, LossyRows, LossyBlobs]:
    rows, blobs = LossyRows(), LossyBlobs()
    body = job([{"id": f"t{i:04d}", "handler": "t.ok", "input": i} for i in range(tasks)], **fields)
    app = MemoryBatch(body, partition_size=100, task_rows=rows, result_blobs=blobs)
    return app, rows, blobs


def losing_after(app: MemoryBatch, batches: int, lose: Any) -> None:
    """Run `lose()` once, right after the `batches`-th RUN_BATCH call has recorded its tasks and answered."""
    activities = app.activities()
    run_batch = activities[wire.RUN_BATCH]
    calls = Counter[str]()

    def wrapped(request: Any) -> Any:
        outcome = run_batch(request)
        calls["batches"] += 1
        if calls["batches"] == batches:
            lose()
        return outcome

    app.activities = lambda: {**activities, wire.RUN_BATCH: wrapped}  # type: ignore[method-assign]


def rerun(app: MemoryBatch, run: int) -> dict[str, Any]:
    """What `POST .../rerun` does: record the new run, then start the job's orchestration again."""
    assert app.services.jobs.upsert_job(dataclasses.replace(app.record(), state=JobState.PENDING, run=run))
    body = {"jobId": app.spec.id, "specHash": app.spec.canonical_hash(), "partitionSize": 100, "run": run}
    app.sim.start(wire.JOB_ORCHESTRATOR, app.spec.id, body)
    app.sim.run_with_time()
    output: dict[str, Any] = app.sim.instances["job-1"].output
    return output


def result_ids(app: MemoryBatch) -> set[str]:
    return {row["id"] for row in app.services.results.iter_results("job-1")}


def test_task_records_lost_after_they_were_acknowledged_fail_the_job_naming_them() -> None:
    app, rows, _ = lossy_app(taskBatchSize=50)
    # The 5th batch's chunk write (the latest commit of the task table) is acknowledged, then lost.
    losing_after(app, 5, lambda: rows.lose(1, "job-1"))
    sim = simulate(app, batch=4)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "failed", output
    counts = output["taskCounts"]
    lost = counts["failed"]
    assert lost > 0 and counts["pending"] == counts["running"] == 0
    assert counts["succeeded"] + lost == counts["total"] == 600
    assert output["reason"].startswith(f"storage lost the records or results of {lost} tasks after acknowledging them")
    assert output["reason"].endswith("they are recorded failed: re-run the job (POST .../rerun) to run them again")
    failed = {task_id for task_id, record in app.records.items() if record["state"] == "failed"}
    assert len(failed) == lost and set(output["failedTasks"]) == failed
    assert all(app.records[task_id]["error"] == LOST_ERROR for task_id in failed)
    # What the job, its record and its summary say agree with the records, and every success has its result
    # (a lost task may have a result row too: its results blob was kept, its record lost; reads ignore it).
    assert app.states() == Counter({"succeeded": 600 - lost, "failed": lost})
    assert result_ids(app) >= set(app.records) - failed
    record = app.record()
    assert record.state == JobState.FAILED and record.task_counts.failed == lost

    # A re-run runs the lost tasks again (at least once: their first run was never recorded).
    again = rerun(app, 2)
    assert again["state"] == "succeeded", again["reason"]
    assert app.states() == Counter({"succeeded": 600})
    assert result_ids(app) == set(app.records)


def test_results_lost_after_their_tasks_were_recorded_fail_the_job_naming_them() -> None:
    app, _, blobs = lossy_app(taskBatchSize=50)
    # The 3rd batch's results blob is lost; its chunk row, written after it, says its tasks succeeded.
    losing_after(app, 3, lambda: blobs.lose(1, app.services.results.job_prefix("job-1") + "results/"))
    sim = simulate(app, batch=1)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "failed", output
    assert output["taskCounts"]["failed"] == 50 and output["taskCounts"]["succeeded"] == 550
    assert "storage lost the records or results of 50 tasks" in output["reason"]
    failed = {task_id for task_id, record in app.records.items() if record["state"] == "failed"}
    assert len(failed) == 50 and result_ids(app) == set(app.records) - failed  # the lost blob held just theirs
    assert rerun(app, 2)["state"] == "succeeded"
    assert result_ids(app) == set(app.records)


def test_a_chunk_row_lost_whole_is_noticed_and_written_again() -> None:
    app, rows, _ = lossy_app(tasks=300)
    sim = simulate(app, batch=25)
    sim.run_with_time()
    assert sim.instances["job-1"].output["state"] == "succeeded"
    # Then storage loses partition 1's chunk row (its creation at prepare, and every write since).
    rows.commit("job-1", [Delete(chunk_key(1, 0))])
    check = {"jobId": "job-1", "specHash": app.spec.canonical_hash(), "partitionSize": 100, "taskCounts": {}}
    audit = app.activities()[wire.AUDIT_JOB](check)
    assert audit["lost"] == 100 and audit["lostIds"] == [f"t{i:04d}" for i in range(100, 200)]
    assert audit["taskCounts"] == {**audit["taskCounts"], "total": 300, "succeeded": 200, "failed": 100}
    assert app.states() == Counter({"succeeded": 200, "failed": 100})


def test_a_chunk_row_holding_another_number_of_tasks_is_written_again_with_the_specs_ids() -> None:
    app, rows, _ = lossy_app(tasks=250)
    sim = simulate(app, batch=25)
    sim.run_with_time()
    assert sim.instances["job-1"].output["state"] == "succeeded"
    # Partition 1's row comes back holding partition 2's 50 tasks (a row of another layout): none of its 100
    # tasks is recorded, and the audit does not take the row's ids for theirs.
    other = rows.get("job-1", chunk_key(2, 0))
    assert other is not None
    rows.commit("job-1", [Put(chunk_key(1, 0), other.props)])
    check = {"jobId": "job-1", "specHash": app.spec.canonical_hash(), "partitionSize": 100, "taskCounts": {}}
    audit = app.activities()[wire.AUDIT_JOB](check)
    assert audit["lost"] == 100 and audit["lostIds"] == [f"t{i:04d}" for i in range(100, 200)]
    assert app.states() == Counter({"succeeded": 150, "failed": 100})


def test_an_audit_delivered_again_answers_the_same() -> None:
    app, rows, _ = lossy_app(tasks=100, taskBatchSize=50)
    losing_after(app, 2, lambda: rows.lose(1, "job-1"))
    audits: list[dict[str, Any]] = []
    activities = app.activities()

    def twice(request: Any) -> Any:
        audits.append(activities[wire.AUDIT_JOB](request))
        audits.append(activities[wire.AUDIT_JOB](request))
        return audits[-1]

    app.activities = lambda: {**activities, wire.AUDIT_JOB: twice}  # type: ignore[method-assign]
    sim = simulate(app, batch=1)
    sim.run_with_time()
    assert audits[0] == audits[1] and audits[0]["lost"] == 50
    assert sim.instances["job-1"].output["state"] == "failed"


def test_a_job_whose_records_are_whole_succeeds_after_an_audit_that_only_reads() -> None:
    app, rows, _ = lossy_app(tasks=1000)
    activities = app.activities()
    writes: list[int] = []

    def audit(request: Any) -> Any:
        before = rows.commits
        answer = activities[wire.AUDIT_JOB](request)
        writes.append(rows.commits - before)
        return answer

    app.activities = lambda: {**activities, wire.AUDIT_JOB: audit}  # type: ignore[method-assign]
    sim = simulate(app, batch=25)
    sim.run_with_time()
    assert sim.instances["job-1"].output["state"] == "succeeded"
    assert writes == [0]
