"""In-memory stand-ins for the stores, for the activities' unit tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from batch.spec import JobSpec, TaskSpec


def job_spec(job_id: str = "job-1", tasks: int = 3, **fields: Any) -> JobSpec:
    return JobSpec(
        id=job_id, tasks=tuple(TaskSpec(id=f"t{i}", handler="h.echo", input=i) for i in range(tasks)), **fields
    )


class MemoryBlobs:
    """Blobs by name, counting reads, with the ResultStore methods the activities' pure parts use."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.reads: list[str] = []

    def write_task_blob(
        self, job_id: str, task_id: str, name: str, data: bytes | str, content_type: str | None = None
    ) -> str:
        blob = f"{job_id}/tasks/{task_id}/{name}"
        self.blobs[blob] = data.encode() if isinstance(data, str) else data
        return blob

    def read_blob(self, blob_name: str) -> bytes:
        self.reads.append(blob_name)
        return self.blobs[blob_name]

    def list_result_batches(self, job_id: str) -> Iterator[str]:
        yield from sorted(name for name in self.blobs if name.startswith(f"{job_id}/results/"))

    def put_rows(self, job_id: str, stem: str, rows: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(row) + "\n" for row in rows)
        self.blobs[f"{job_id}/results/{stem}.jsonl"] = text.encode()
