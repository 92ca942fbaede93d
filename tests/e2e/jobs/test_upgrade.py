"""A deploy while a job runs: the job is started by an earlier version of the code, its host is killed in the
middle, and a host of this version carries on from the same durable state and storage to exact counts.

The earlier version is the code as it was before the latest commit that changed how jobs run (orchestrators,
activities, the domain, storage, the app): `git archive` of that commit's parent, so the step this test guards
is always a real change. `DURABLE_BATCH_UPGRADE_FROM` names another commit (a release tag, say).
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from devhost.testing import REPO_ROOT
from tests.e2e.jobs.support import FeaturesHost, all_succeeded, child_processes, kill_leftovers, start_features_host

pytestmark = pytest.mark.e2e

TASKS = 300
JOB_CODE = ["orchestrators", "activities", "batch", "storage", "app"]


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError(
            f"git {' '.join(args)} failed: {done.stderr.strip()}. This test needs the repository's history "
            "(a clone with more than one commit), or DURABLE_BATCH_UPGRADE_FROM naming a commit it has."
        )
    return done.stdout.strip()


def earlier_version() -> str:
    """The commit whose code the job starts on (see the module)."""
    named = os.environ.get("DURABLE_BATCH_UPGRADE_FROM")
    if named:
        return _git("rev-parse", "--verify", f"{named}^{{commit}}")
    latest_change = _git("rev-list", "-n", "1", "HEAD", "--", *JOB_CODE)
    return _git("rev-parse", "--verify", f"{latest_change}~1")


@pytest.fixture(scope="module")
def earlier_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The earlier version's files, exported from git (no worktree: the repository is left as it is)."""
    commit = earlier_version()
    tree = tmp_path_factory.mktemp("earlier")
    archive = subprocess.run(["git", "archive", commit], cwd=REPO_ROOT, capture_output=True, timeout=120, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    yield tree


def job_spec(job_id: str) -> dict[str, object]:
    # 0.05 s a task, 10 at a time: the job takes a few seconds, so the kill lands in the middle. Some tasks
    # depend on others across the job, and a reduce reads every result at the end.
    tasks: list[dict[str, object]] = [
        {"id": f"t{n:03d}", "handler": "test.sleep", "input": {"seconds": 0.05, "value": n}} for n in range(TASKS)
    ]
    for n in range(250, TASKS):
        tasks[n]["dependsOn"] = [f"t{n - 250:03d}"]
    return {"id": job_id, "maxParallelTasks": 10, "tasks": tasks, "reduce": {"handler": "test.sum"}}


def test_a_job_started_by_the_earlier_version_finishes_on_this_one(
    azurite: Azurite, tmp_path: Path, earlier_tree: Path
) -> None:
    workers: set[int] = set()
    before: FeaturesHost | None = None
    after: FeaturesHost | None = None
    try:
        before = start_features_host(azurite, tmp_path, code_root=earlier_tree)
        job_id = before.unique_id("upgrade")
        assert before.submit(job_spec(job_id)).status_code == 202
        before.wait_until(
            lambda: before.get(f"/jobs/{job_id}").json()["taskCounts"]["succeeded"] >= 40,
            timeout=120,
            what="forty tasks to succeed on the earlier version",
        )
        assert before.process.process is not None
        workers |= child_processes(before.process.process.pid)
        before.process.kill()
        before.http.close()
        # What the earlier version had recorded as done, read from storage with its host gone.
        done_before = {r.task_id for r in before.tasks.iter_tasks(job_id) if r.state.value == "succeeded"}
        assert 40 <= len(done_before) < TASKS, "the job was not in the middle at the kill: the test proves nothing"

        after = start_features_host(azurite, tmp_path)
        view = after.wait_for_job(job_id, timeout=180)
        assert view["state"] == "succeeded", (view, after.tasks_of(job_id, "failed"))
        assert view["taskCounts"] == all_succeeded(TASKS)
        reduced = view["reduce"]["result"]
        assert (reduced["sum"], reduced["count"], reduced["first"]) == (
            sum(range(TASKS)),
            TASKS,
            ["t000", "t001", "t002"],
        )
        records = after.tasks_of(job_id)
        assert len(records) == TASKS and {r["state"] for r in records.values()} == {"succeeded"}
        calls = [after.calls(job_id, f"t{n:03d}") for n in range(TASKS)]
        assert min(calls) >= 1, "a task never ran"
        # Done on the earlier version stays done: recorded, never run again by this one.
        again = sorted(t for t in done_before if after.calls(job_id, t) > 1)
        assert again == []
    finally:
        if after is not None:
            after.close()
        if before is not None:
            before.process.kill()
        kill_leftovers(workers)
