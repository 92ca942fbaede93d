"""Where a command task's resource files are downloaded, their blob names are checked again: a spec stored
before the rule (or written around the API) still cannot read another job's files or leave the container."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from durable_batch.activities.command_tasks import run_command_task
from durable_batch.batch.spec import JobSpec, ResourceFile, TaskSpec
from durable_batch.storage.jobs import JobRecord
from durable_batch.storage.results import ResultStore

pytestmark = pytest.mark.unit


class NoStorage:
    """Fails the test on any use: a refused blob must stop the attempt before storage is touched."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"storage was used: {name}")


class NoJobs:
    def get_job(self, job_id: str) -> JobRecord | None:
        raise AssertionError("the job record was read")


@pytest.mark.parametrize(
    ("blob", "message"),
    [("otherjob/job.json", "names a blob of job 'otherjob'"), ("../private/secret.txt", "'..' segments")],
)
def test_a_stored_spec_with_a_bad_blob_fails_the_attempt_without_reading_it(
    blob: str, message: str, tmp_path: Path
) -> None:
    task = TaskSpec(id="t", command_line=("true",), resource_files=(ResourceFile(blob, "f"),))
    spec = JobSpec(id="job-1", tasks=(task,))
    results = cast(ResultStore, NoStorage())
    run = run_command_task(results, NoJobs(), spec, "hash", task, work_root=tmp_path)
    assert not run.ok and run.error is not None and message in run.error
    assert not list(tmp_path.iterdir())
