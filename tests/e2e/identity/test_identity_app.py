"""The whole app on an identity-based connection: devhost runs the function app (and keeps its own durable
state, `--store azure`) against Azurite over HTTPS with OAuth, with no account key in any setting. Tokens come
from a managed-identity endpoint, through `azure-identity` in the host and worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite, TlsFiles
from devhost.testing import REPO_ROOT, DevHostProcess
from tests.e2e.identity.conftest import identity_settings
from tests.e2e.identity.support import TokenEndpoint

pytestmark = pytest.mark.e2e


@pytest.fixture
def identity_host(
    oauth_azurite: Azurite, token_endpoint: TokenEndpoint, tls_files: TlsFiles, tmp_path: Path
) -> Iterator[DevHostProcess]:
    env = {
        # Empty is unset: the key-based setting must not be what connects (a developer's shell may have one).
        "AzureWebJobsStorage": "",
        **identity_settings(oauth_azurite, credential="managedidentity"),
        **token_endpoint.environ,
        "REQUESTS_CA_BUNDLE": str(tls_files.cert),
        "BATCH_EXAMPLES": "false",
    }
    process = DevHostProcess(REPO_ROOT, state_dir=tmp_path / "state", env=env, extra_args=["--store", "azure"])
    process.start()
    try:
        yield process
    finally:
        process.stop()


def wait_for(url: str, job_id: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(f"{url}/api/jobs/{job_id}", timeout=30)
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        if view["state"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return view
        time.sleep(0.2)


def test_a_job_runs_on_a_managed_identity_with_no_key_anywhere(
    identity_host: DevHostProcess, token_endpoint: TokenEndpoint
) -> None:
    job_id = f"identity-{uuid.uuid4().hex[:10]}"
    spec = {"id": job_id, "tasks": [{"id": "t1", "handler": "builtin.echo", "input": {"hello": [1, 2]}}]}
    response = requests.post(f"{identity_host.base_url}/api/jobs", json=spec, timeout=30)
    assert response.status_code == 202, response.text
    view = wait_for(identity_host.base_url, job_id)
    assert view["state"] == "succeeded", view
    task = requests.get(f"{identity_host.base_url}/api/jobs/{job_id}/tasks/t1", timeout=30).json()
    assert task["state"] == "succeeded" and task["result"] == {"hello": [1, 2]}, task
    assert token_endpoint.requests, "the app reached storage without asking the identity for a token"


def test_the_cli_downloads_results_through_the_api_with_no_storage_settings(
    identity_host: DevHostProcess, tmp_path: Path
) -> None:
    # The host reads its blobs with the identity; the CLI needs only the app's address (the files routes).
    job_id = f"identity-cli-{uuid.uuid4().hex[:10]}"
    spec = {"id": job_id, "tasks": [{"id": "t1", "handler": "builtin.echo", "input": 5}]}
    assert requests.post(f"{identity_host.base_url}/api/jobs", json=spec, timeout=30).status_code == 202
    assert wait_for(identity_host.base_url, job_id)["state"] == "succeeded"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AzureWebJobsStorage")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "durable_batch.cli",
            "results",
            "download",
            job_id,
            "--out",
            str(tmp_path / "out"),
            "--url",
            identity_host.base_url,
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["state"] == "succeeded"


def test_without_batch_examples_the_example_handlers_are_not_callable(identity_host: DevHostProcess) -> None:
    spec = {"id": f"no-examples-{uuid.uuid4().hex[:8]}", "tasks": [{"id": "t1", "handler": "billing.invoice"}]}
    response = requests.post(f"{identity_host.base_url}/api/jobs", json=spec, timeout=30)
    assert response.status_code == 400, response.text
    assert "unknown handler 'billing.invoice'" in response.text


@pytest.mark.parametrize("problem", ["refused-token", "http-url", "unset"])
def test_an_identity_connection_that_cannot_work_answers_503_saying_why(
    problem: str, oauth_azurite: Azurite, token_endpoint: TokenEndpoint, tls_files: TlsFiles, tmp_path: Path
) -> None:
    settings = identity_settings(oauth_azurite, credential="managedidentity")
    if problem == "refused-token":
        token_endpoint.issuer = "https://issuer.example/"  # not an Entra ID issuer: Azurite refuses its tokens
        expected = "refused the credentials"
    elif problem == "http-url":
        settings["AzureWebJobsStorage__tableServiceUri"] = oauth_azurite.table_endpoint.replace("https:", "http:")
        expected = "__tableServiceUri must be the service's https:// URL"
    else:
        settings = {}  # no storage setting in any form: the app still starts, and says what to set
        expected = "AzureWebJobsStorage is not set"
    env = {
        "AzureWebJobsStorage": "",
        **settings,
        **token_endpoint.environ,
        "REQUESTS_CA_BUNDLE": str(tls_files.cert),
    }
    with DevHostProcess(REPO_ROOT, state_dir=tmp_path / "state", env=env) as host:
        response = requests.get(f"{host.base_url}/api/jobs", timeout=60)
        assert response.status_code == 503, response.text
        assert expected in response.json()["error"]["message"], response.text
        spec = {"id": "never-stored", "tasks": [{"id": "t1", "handler": "builtin.echo", "input": 1}]}
        assert requests.post(f"{host.base_url}/api/jobs", json=spec, timeout=60).status_code == 503
