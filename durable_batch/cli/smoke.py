"""`durable-batch smoke`: after a deploy, prove that the app runs a job end to end.

It submits a tiny job of the built-in `builtin.echo` handler (which every deployment registers, unlike the
examples), waits for it, and checks that each task's result is its input: the API, the orchestrations, the
activities and the storage account all took part. The clock and the sleep are parameters so that a test can
drive the loop without waiting.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from durable_batch.batch.builtin import ECHO
from durable_batch.cli.client import JobApi
from durable_batch.cli.render import FINISHED

SMOKE_TASKS = 3
POLL_SECONDS = 1.0


def smoke_spec(job_id: str, nonce: str, tasks: int = SMOKE_TASKS) -> dict[str, Any]:
    """A job of `tasks` echo tasks whose inputs carry `nonce`, so that a stale result cannot pass."""
    return {
        "id": job_id,
        "tasks": [{"id": f"echo-{n}", "handler": ECHO, "input": {"smoke": nonce, "n": n}} for n in range(1, tasks + 1)],
    }


@dataclass
class SmokeReport:
    job_id: str
    state: str
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "succeeded" and not self.problems


def run_smoke(
    api: JobApi,
    *,
    job_id: str | None = None,
    timeout: float = 300.0,
    poll_seconds: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SmokeReport:
    """Submit the smoke job, wait up to `timeout` seconds for it to finish, and check its tasks' results."""
    nonce = uuid.uuid4().hex
    job_id = job_id or f"smoke-{nonce[:12]}"
    spec = smoke_spec(job_id, nonce)
    started = clock()
    view, _started = api.submit(json.dumps(spec).encode())
    while view.get("state") not in FINISHED:
        if clock() - started > timeout:
            return SmokeReport(
                job_id, str(view.get("state")), clock() - started, [f"still {view.get('state')} after {timeout:g}s"]
            )
        sleep(poll_seconds)
        view = api.job(job_id)
    report = SmokeReport(job_id, str(view["state"]), clock() - started)
    if report.state != "succeeded":
        report.problems.append(f"the job {report.state}: {view.get('reason') or view.get('failedTasks') or view}")
        return report
    for task in spec["tasks"]:
        result = api.task(job_id, task["id"]).get("result")
        if result != task["input"]:
            report.problems.append(f"task {task['id']} returned {result!r}, not its input {task['input']!r}")
    return report
