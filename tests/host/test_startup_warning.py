"""devhost on an app without `AzureWebJobsStorage`: it says so at start-up, with the fix, and the job API then
answers 503 naming the setting (the app still imports and serves)."""

from __future__ import annotations

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
        assert "local.settings.json.example" in warning and "python -m devtools.azurite" in warning
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
