"""`durable-batch smoke` against devhost + Azurite with keys required, as after a deploy: it submits the echo
job with the function key, waits, checks, and cleans up; without the key it fails and says why."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost.azurite import Azurite
from devhost.testing import REPO_ROOT, DevHostProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def keyed_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    """The repository's app as it ships (no BATCH_EXAMPLES), with function keys required on every route."""
    env = {"AzureWebJobsStorage": azurite.connection_string, "BATCH_EXAMPLES": "false"}
    process = DevHostProcess(REPO_ROOT, state_dir=tmp_path_factory.mktemp("smoke"), env=env, require_keys=True)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def smoke(host: DevHostProcess, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("DURABLE_BATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "durable_batch.cli", "smoke", "--url", host.base_url, *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**environment, "COLUMNS": "250", "NO_COLOR": "1"},
        timeout=120,
        check=False,
    )


def test_smoke_passes_with_the_function_key_and_deletes_its_job(keyed_host: DevHostProcess) -> None:
    assert keyed_host.keys is not None
    done = smoke(keyed_host, "--key", keyed_host.keys.function_key, "--timeout", "90")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout
    job_id = done.stdout.split("smoke job ", 1)[1].split(":", 1)[0]
    gone = requests.get(
        f"{keyed_host.base_url}/api/jobs/{job_id}",
        headers={"x-functions-key": keyed_host.keys.function_key},
        timeout=30,
    )
    assert gone.status_code == 404, gone.text


def test_smoke_keep_leaves_the_succeeded_job_with_its_echoed_results(keyed_host: DevHostProcess) -> None:
    assert keyed_host.keys is not None
    key = keyed_host.keys.function_key
    done = smoke(keyed_host, "--key", key, "--keep")
    assert done.returncode == 0, done.stdout + done.stderr
    job_id = done.stdout.split("smoke job ", 1)[1].split(":", 1)[0]
    headers = {"x-functions-key": key}
    view = requests.get(f"{keyed_host.base_url}/api/jobs/{job_id}", headers=headers, timeout=30).json()
    assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == 3, view
    task = requests.get(f"{keyed_host.base_url}/api/jobs/{job_id}/tasks/echo-2", headers=headers, timeout=30).json()
    assert task["result"]["n"] == 2 and len(task["result"]["smoke"]) == 32, task


def test_smoke_without_the_key_fails_with_the_apis_401(keyed_host: DevHostProcess, tmp_path: Path) -> None:
    done = smoke(keyed_host)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "401" in done.stderr or "unauthorized" in done.stderr.lower(), done.stderr
