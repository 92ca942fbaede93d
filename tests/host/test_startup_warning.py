"""devhost on an app without `AzureWebJobsStorage`: it says so at start-up, with the fix, and the job API then
answers 503 naming the setting (the app still imports and serves)."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
import requests

from devhost.testing import REPO_ROOT, DevHostProcess

pytestmark = pytest.mark.host


def test_a_missing_storage_setting_is_warned_about_with_the_fix(tmp_path: Path) -> None:
    # Set but empty: a local.settings.json of the developer's own cannot fill it in.
    host = DevHostProcess(REPO_ROOT, state_dir=tmp_path, env={"AzureWebJobsStorage": ""}).start()
    try:
        output = "".join(host.output)
        warning = next(line for line in host.output if line.startswith("warning: "))
        assert "AzureWebJobsStorage is not set" in warning
        assert "local.settings.json.example" in warning and "python -m devhost.azurite" in warning
        assert output.index("warning: ") < output.index("Functions:"), "before the function list"
        answer = requests.get(f"{host.base_url}/api/jobs", timeout=30)
        assert answer.status_code == 503 and "AzureWebJobsStorage" in answer.json()["error"]["message"]
    finally:
        host.stop()


def test_no_warning_when_the_setting_is_there(tmp_path: Path) -> None:
    host = DevHostProcess(REPO_ROOT, state_dir=tmp_path, env={"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    host.start()
    try:
        assert not any(line.startswith("warning: ") for line in host.output), host.output
    finally:
        host.stop()


def test_a_settings_file_others_can_read_is_warned_about_and_the_state_is_private(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(REPO_ROOT / "tests" / "apps" / "devhost_http", app)
    settings = app / "local.settings.json"
    settings.write_text(
        json.dumps({"IsEncrypted": False, "Values": {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}})
    )
    settings.chmod(0o644)
    state = tmp_path / "state"
    host = DevHostProcess(app, state_dir=state).start()
    try:
        warning = next(line for line in host.output if line.startswith("warning: "))
        assert f"{settings} can be read by other users of this machine (mode 644)" in warning
        assert f"chmod 600 {settings}" in warning
        # Its durable state is the user's alone.
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        assert {stat.S_IMODE(p.stat().st_mode) for p in state.glob("*.sqlite3")} == {0o600}
    finally:
        host.stop()
    settings.chmod(0o600)
    again = DevHostProcess(app, state_dir=state).start()
    try:
        assert not any(line.startswith("warning: ") for line in again.output), again.output
    finally:
        again.stop()


def test_an_app_without_the_durable_extension_has_its_durable_functions_in_error(tmp_path: Path) -> None:
    app = REPO_ROOT / "tests" / "apps" / "devhost_no_bundle"
    host = DevHostProcess(app, state_dir=tmp_path, env={"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    host.start()
    try:
        output = "".join(host.output)
        errors = output[output.index("Functions in error (not loaded):") :]
        for name, types in (
            ("start", "'durableClient'"),
            ("orchestrate", "'orchestrationTrigger'"),
            ("work", "'activityTrigger'"),
        ):
            line = next(line for line in errors.splitlines() if line.strip().startswith(f"{name}:"))
            assert f"the binding type(s) {types} are not registered" in line
            assert "host.json names no extension bundle" in line and "Microsoft.Azure.Functions.ExtensionBundle" in line
        assert "hello: [GET]" in output[: output.index("Functions in error")]
        assert requests.get(f"{host.base_url}/api/hello", timeout=30).text == "hello"
        assert requests.post(f"{host.base_url}/api/start", timeout=30).status_code == 404
    finally:
        host.stop()


def test_the_same_app_with_the_bundle_loads_every_function(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(REPO_ROOT / "tests" / "apps" / "devhost_no_bundle", app)
    bundle = {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    (app / "host.json").write_text(json.dumps({"version": "2.0", "extensionBundle": bundle}))
    host = DevHostProcess(app, state_dir=tmp_path / "state", env={"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    host.start()
    try:
        assert "Functions in error" not in "".join(host.output)
        started = requests.post(f"{host.base_url}/api/start", timeout=30)
        assert started.status_code == 202
    finally:
        host.stop()
