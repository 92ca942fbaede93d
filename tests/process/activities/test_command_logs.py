"""A command task's logs: written when it printed anything, and by every retry (so an earlier attempt's never
pass for a later one's); a quiet first attempt costs no write. Real commands, in-memory storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_batch.activities.command_tasks import run_command_task
from durable_batch.app.handlers import app_handlers
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch.spec import JobSpec, TaskSpec
from durable_batch.lib.azure_storage.errors import NotFound

pytestmark = pytest.mark.process

LOUD = TaskSpec(id="t", command_line=("/bin/sh", "-c", "echo attempt output; echo oops >&2; exit 1"))
QUIET = TaskSpec(id="t", command_line=("true",))


def summary(services: Services, task: TaskSpec, attempt: int, work_root: Path) -> dict[str, object]:
    spec = JobSpec(id="job-1", tasks=(task,))
    run = run_command_task(services.results, services.jobs, spec, "hash", task, work_root=work_root, attempt=attempt)
    assert run.placed is not None and run.placed.blob is None
    value: dict[str, object] = run.placed.value
    return value


def logs(services: Services) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for name in ("stdout.txt", "stderr.txt"):
        try:
            found[name] = services.results.read_blob(services.results.task_prefix("job-1", "t") + name)
        except NotFound:
            found[name] = None
    return found


def test_a_quiet_first_attempt_writes_no_logs_and_a_quiet_retry_replaces_a_loud_one(tmp_path: Path) -> None:
    services = Services.in_memory(Settings(storage={}, allow_command_tasks=True), app_handlers())
    quiet = summary(services, QUIET, 1, tmp_path)
    assert (quiet["exitCode"], quiet["stdoutBlob"], quiet["stderrBlob"]) == (0, None, None)
    assert logs(services) == {"stdout.txt": None, "stderr.txt": None}

    loud = summary(services, LOUD, 1, tmp_path)
    assert loud["exitCode"] == 1 and loud["stdoutBlob"] == services.results.task_prefix("job-1", "t") + "stdout.txt"
    assert logs(services) == {"stdout.txt": b"attempt output\n", "stderr.txt": b"oops\n"}

    retry = summary(services, QUIET, 2, tmp_path)
    assert retry["stdoutBlob"] == loud["stdoutBlob"] and retry["stderrBlob"] == loud["stderrBlob"]
    assert logs(services) == {"stdout.txt": b"", "stderr.txt": b""}
