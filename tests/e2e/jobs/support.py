"""What the job feature tests share: the batch_features app on devhost, task builders, and readers of the
task API and of the app's probes (see tests/apps/batch_features/probes.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient

from devhost.azurite import Azurite
from devhost.testing import REPO_ROOT
from durable_batch.batch.times import parse_time
from tests.apps.batch_features import probes
from tests.e2e.batch_host import BatchHost, start_batch_host

CONTAINER = "batch-results"
APP = Path(__file__).resolve().parents[2] / "apps" / "batch_features"


@dataclass
class FeaturesHost(BatchHost):
    """A `BatchHost` on the batch_features app, with the folder its handlers write their probes to."""

    probes: Path = field(default_factory=Path)

    def calls(self, job_id: str, task_id: str) -> int:
        """How many times the task's handler was called."""
        return probes.calls(self.probes, job_id, task_id)

    def concurrency(self, key: str) -> dict[str, int]:
        return probes.concurrency(self.probes, key)

    def tasks_of(self, job_id: str, state: str | None = None) -> dict[str, dict[str, Any]]:
        """Every task record of the job from `GET /api/jobs/{id}/tasks` (all pages), by task id."""
        found: dict[str, dict[str, Any]] = {}
        link: str | None = f"/jobs/{job_id}/tasks?top=1000" + (f"&state={state}" if state else "")
        while link:
            response = self.get(link)
            assert response.status_code == 200, response.text
            page = response.json()
            for task in page["value"]:
                assert task["id"] not in found, f"task {task['id']} listed twice"
                found[task["id"]] = task
            link = page["nextLink"]
        return found

    def task(self, job_id: str, task_id: str) -> dict[str, Any]:
        """One task with its result, from `GET /api/jobs/{id}/tasks/{taskId}`."""
        response = self.get(f"/jobs/{job_id}/tasks/{task_id}")
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view

    def run(self, spec: dict[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
        """Submit `spec` (202 expected) and wait until it ends; the final job view."""
        response = self.submit(spec)
        assert response.status_code == 202, response.text
        return self.wait_for_job(spec["id"], timeout=timeout)


def all_succeeded(total: int) -> dict[str, int]:
    """A job view's `taskCounts` when all of its `total` tasks succeeded."""
    return {"total": total, "pending": 0, "running": 0, "succeeded": total, "failed": 0, "skipped": 0, "cancelled": 0}


def start_features_host(
    azurite: Azurite,
    base: Path,
    env: dict[str, str] | None = None,
    *,
    manual_clock: bool = False,
    extra_args: list[str] | None = None,
    code_root: Path = REPO_ROOT,
) -> FeaturesHost:
    """devhost on the batch_features app; probes go to `base / "probes"`, durable state to `base / "state"`.
    A second call with the same `base` resumes the first host's work (after a crash, say). `code_root`: the
    tree devhost, the framework and the app are taken from (an older version's checkout, say)."""
    folder = base / "probes"
    folder.mkdir(parents=True, exist_ok=True)
    settings = {probes.FOLDER_SETTING: str(folder), **(env or {})}
    script_root = code_root / APP.relative_to(REPO_ROOT)
    plain = start_batch_host(
        azurite,
        base / "state",
        settings,
        manual_clock=manual_clock,
        script_root=script_root,
        extra_args=extra_args,
        code_root=code_root,
    )
    return FeaturesHost(plain.process, plain.azurite, plain.http, probes=folder)


def features_host_fixture(*, manual_clock: bool = False, env: dict[str, str] | None = None) -> Any:
    """A module-scoped fixture: one host for the module's tests, which give their jobs unique ids."""

    @pytest.fixture(scope="module")
    def fixture(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeaturesHost]:
        host = start_features_host(azurite, tmp_path_factory.mktemp("features"), env, manual_clock=manual_clock)
        try:
            yield host
        finally:
            host.close()

    return fixture


def results_container(host: BatchHost) -> ContainerClient:
    """The results container in the host's Azurite (created if the host has not written to it yet)."""
    blobs = BlobServiceClient.from_connection_string(host.azurite.connection_string).get_container_client(CONTAINER)
    with contextlib.suppress(ResourceExistsError):
        blobs.create_container()
    return blobs


def text_of(blobs: ContainerClient, name: str) -> str:
    return blobs.download_blob(name).readall().decode()


def echo(task_id: str, value: int = 0, **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "handler": "test.echo", "input": {"value": value}, **extra}


def flaky(task_id: str, fails: int, **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "handler": "test.flaky", "input": {"fails": fails, "value": 1}, **extra}


def failing(task_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "handler": "test.fail", **extra}


def python_command(task_id: str, code: str, **extra: Any) -> dict[str, Any]:
    """A command task that runs `code` with this interpreter (no shell)."""
    return {"id": task_id, "commandLine": [sys.executable, "-c", code], **extra}


def pid_sleeper(task_id: str, pid_file: Path, seconds: float, **extra: Any) -> dict[str, Any]:
    """A command task that writes its PID to `pid_file`, then sleeps."""
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep({seconds})"
    return python_command(task_id, code, **extra)


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text else None


def process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def kill_leftovers(pids: Iterable[int]) -> None:
    """SIGKILL each of `pids` that still runs: the teardown of a test that failed before the host ended them."""
    for pid in pids:
        if not process_is_gone(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def child_processes(pid: int) -> set[int]:
    """The live processes whose parent is `pid`, from /proc (Linux, where command tasks and the tests run)."""
    children: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # "pid (command name) state ppid ...": the name may hold spaces and parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.add(int(entry.name))
    return children


def seconds_between(start: str, end: str) -> float:
    first, last = parse_time(start), parse_time(end)
    assert first is not None and last is not None, f"not two times: {start!r}, {end!r}"
    return (last - first).total_seconds()
