"""Small builders for the activities' unit tests (the stores themselves run in memory: `Services.in_memory`)."""

from __future__ import annotations

from typing import Any

from durable_batch.batch.spec import JobSpec, TaskSpec


def job_spec(job_id: str = "job-1", tasks: int = 3, **fields: Any) -> JobSpec:
    return JobSpec(
        id=job_id, tasks=tuple(TaskSpec(id=f"t{i}", handler="h.echo", input=i) for i in range(tasks)), **fields
    )
