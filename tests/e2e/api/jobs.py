"""Job specs the API tests submit."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from durable_batch.batch.states import TaskCounts
from durable_batch.batch.validation import parse_job
from durable_batch.storage.jobs import JobRecord, JobState, JobStore
from examples.handlers import all_handlers


def invoice(n: int, **extra: Any) -> dict[str, Any]:
    """A quick billing task (the billing example's handler)."""
    task = {
        "id": f"inv-{n:06d}",
        "handler": "billing.invoice",
        "input": {"customer": f"c-{n:06d}", "seed": 1, "period": "2026-11"},
    }
    task.update(extra)
    return task


def billing_job(job_id: str | None, tasks: int = 3, *, reduce: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"tasks": [invoice(n) for n in range(1, tasks + 1)]}
    if job_id is not None:
        spec["id"] = job_id
    if reduce:
        spec["reduce"] = {"handler": "billing.summarize"}
    return spec


def sleeper(task_id: str, seconds: float) -> dict[str, Any]:
    """A command task that sleeps: slow enough to cancel, or to delete while it runs."""
    return {"id": task_id, "commandLine": [sys.executable, "-c", f"import time; time.sleep({seconds})"]}


def leave_pending_record(jobs: JobStore, spec: dict[str, Any]) -> None:
    """What a submit leaves when it stops right after its first write: the pending record, nothing else."""
    parsed = parse_job(spec, known_handlers=all_handlers.keys(), allow_command_tasks=True)
    total = len(parsed.tasks)
    record = JobRecord(
        parsed.id,
        JobState.PENDING,
        datetime.now(UTC),
        task_counts=TaskCounts(total=total, pending=total),
        spec_hash=parsed.canonical_hash(),
    )
    assert jobs.create_job(record)
