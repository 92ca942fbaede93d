"""The whole app under test: devhost running the repository's function app, with Azurite as its storage.

Reusable by any end-to-end test module; re-export the fixture from the folder's `conftest.py`::

    from tests.e2e.batch_host import batch_host  # noqa: F401

`batch_host` is module-scoped: one devhost process per test module (started in about a second), sharing the
session's Azurite. Jobs of different modules share the job table, so tests give their jobs unique ids
(`BatchHost.unique_id`). Everything goes through real HTTP, as a user would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite
from devhost.testing import REPO_ROOT, DevHostProcess
from durable_batch.storage import ContainerBlobs, JobStore, ResultStore, TableRows, TaskStore, get_account
from durable_batch.storage.jobs import TABLE as JOBS_TABLE
from durable_batch.storage.results import DEFAULT_CONTAINER, layout_of_record

FINISHED = frozenset({"succeeded", "failed", "cancelled"})
# Small enough that a test can send a body over it cheaply; large enough for every other test's jobs.
TEST_MAX_BODY_BYTES = 256 * 1024


@dataclass
class BatchHost:
    """A running app: its URLs, an HTTP session, and the stores behind it (to arrange and check state)."""

    process: DevHostProcess
    azurite: Azurite
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def base_url(self) -> str:
        return self.process.base_url

    @property
    def api(self) -> str:
        return f"{self.process.base_url}/api"

    def url(self, path: str) -> str:
        """`/jobs/x` -> `http://127.0.0.1:port/api/jobs/x`; absolute URLs are returned unchanged."""
        return path if path.startswith("http") else f"{self.api}{path}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.url(path), timeout=60, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.http.post(self.url(path), json=json, timeout=60, **kwargs)

    def delete(self, path: str) -> requests.Response:
        return self.http.delete(self.url(path), timeout=60)

    def submit(self, spec: Mapping[str, Any]) -> requests.Response:
        return self.post("/jobs", json=dict(spec))

    def wait_for_job(self, job_id: str, *, timeout: float = 60.0, states: frozenset[str] = FINISHED) -> dict[str, Any]:
        """Poll `GET /api/jobs/{id}` until its state is one of `states`; return the job view."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/jobs/{job_id}")
            assert response.status_code == 200, response.text
            view: dict[str, Any] = response.json()
            if view["state"] in states:
                return view
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {view['state']} after {timeout}s: {view}")
            time.sleep(0.1)

    def wait_until(self, predicate: Any, *, timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def durable_status(self, instance_id: str) -> requests.Response:
        """The orchestration instance's status from the Durable webhook (404 when there is none)."""
        return self.http.get(f"{self.base_url}/runtime/webhooks/durabletask/instances/{instance_id}", timeout=60)

    @property
    def jobs(self) -> JobStore:
        return JobStore(TableRows(get_account(self.azurite.connection_string), JOBS_TABLE))

    @property
    def tasks(self) -> TaskStore:
        return TaskStore(TableRows(get_account(self.azurite.connection_string)))

    @property
    def results(self) -> ResultStore:
        """The results container, each job's files where its record says, as the app finds them."""
        jobs = self.jobs

        def layout_of(job_id: str) -> int:
            record = jobs.get_job(job_id)
            return layout_of_record(record is not None, record.layout if record is not None else None)

        return ResultStore(ContainerBlobs(get_account(self.azurite.connection_string), DEFAULT_CONTAINER), layout_of)

    @staticmethod
    def unique_id(stem: str) -> str:
        return f"{stem}-{uuid.uuid4().hex[:10]}"

    def close(self) -> None:
        self.http.close()
        self.process.stop()


def start_batch_host(
    azurite: Azurite,
    state_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    manual_clock: bool = False,
    script_root: Path = REPO_ROOT,
    extra_args: list[str] | None = None,
    require_keys: bool = False,
    code_root: Path = REPO_ROOT,
) -> BatchHost:
    """Start devhost on a function app (the repository's own, unless `script_root` names another), with
    storage in `azurite` and durable state in `state_dir`. `env` adds or overrides app settings. Stop it with
    `BatchHost.close()`; a new host on the same `state_dir` and `azurite` carries on the old one's work.
    `extra_args` go to `devhost start` (`["--store", "azure"]`, say); with `require_keys`, every route needs
    a key (`BatchHost.process.keys`); `code_root`: the tree devhost and the framework are imported from."""
    settings = {
        "AzureWebJobsStorage": azurite.connection_string,
        "BATCH_ALLOW_COMMAND_TASKS": "true",
        "BATCH_EXAMPLES": "true",
        "BATCH_MAX_BODY_BYTES": str(TEST_MAX_BODY_BYTES),
        "BATCH_WORK_DIR": str(state_dir / "work"),
        # Commands here run the tests' own Python (under /root) in pytest's folders (0700): as the worker's user.
        # tests/e2e/jobs/test_command_isolation.py runs them as the default gives them out as root.
        "BATCH_COMMAND_USER": "@worker",
        **(env or {}),
    }
    process = DevHostProcess(
        script_root,
        state_dir=state_dir,
        env=settings,
        manual_clock=manual_clock,
        extra_args=extra_args,
        require_keys=require_keys,
        code_root=code_root,
    )
    process.start()
    return BatchHost(process, azurite)


@pytest.fixture(scope="module")
def batch_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchHost]:
    """devhost on the repository's app with the session's Azurite, for one test module."""
    host = start_batch_host(azurite, tmp_path_factory.mktemp("devhost"))
    try:
        yield host
    finally:
        host.close()
