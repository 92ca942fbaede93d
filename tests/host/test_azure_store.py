"""The Azure store against storage trouble: an outage in the middle of a run, and a wrong account at start-up."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devhost.azurite import ACCOUNT_KEY, Azurite, free_port, start_azurite
from devhost.azurite import connection_string as azurite_connection_string
from devhost.testing import REPO_ROOT, DevHostProcess
from tests.conftest import SdkLoop
from tests.host.helpers import Client

APP = Path(__file__).resolve().parent.parent / "apps" / "features"
pytestmark = pytest.mark.host


def _executions(counters: Path) -> int:
    log = counters / "slow_double.log"
    return len(log.read_text().split()) if log.exists() else 0


def test_an_outage_mid_run_is_retried_reported_once_and_the_run_completes(tmp_path: Path, sdk: SdkLoop) -> None:
    # An Azurite of its own: this test stops it.
    location, counters = tmp_path / "azurite", tmp_path / "counters"
    counters.mkdir()
    azurite = start_azurite(location)
    assert stat.S_IMODE(location.stat().st_mode) == 0o700, "its data is the user's alone"
    env = {
        "FEATURES_COUNTER_DIR": str(counters),
        "TICK_SCHEDULE": "0 0 0 1 1 *",
        "AzureWebJobsStorage": azurite.connection_string,
    }
    n = 1500
    try:
        with DevHostProcess(APP, state_dir=tmp_path / "state", env=env, extra_args=["--store", "azure"]) as host:
            client = Client(host, sdk, hub="FeaturesHub")
            instance_id = client.start_new("slow_fan_out", None, n)
            client.wait_for(lambda: _executions(counters) >= n // 10, what="a tenth of the activities")
            azurite.stop()  # SIGTERM: Azurite saves its state and exits
            time.sleep(3)  # the outage: real time is the point here
            azurite = start_azurite(
                location, blob_port=azurite.blob_port, queue_port=azurite.queue_port, table_port=azurite.table_port
            )
            status = client.wait(instance_id, timeout=180)
            assert status.runtime_status.value == "Completed"
            assert status.output == sum(2 * i for i in range(n))
        output = "".join(host.output)
    finally:
        azurite.stop()
    assert output.count("storage unreachable") == 1, output
    assert output.count("storage reachable again") == 1, output
    assert "Traceback" not in output


def _start_with(connection: str, state: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {
        **os.environ,
        "AzureWebJobsStorage": connection,
        "TICK_SCHEDULE": "0 0 0 1 1 *",
        "PYTHONPATH": str(REPO_ROOT),
    }
    command = [sys.executable, "-m", "devhost", "start", "--script-root", str(APP), "--port", "0"]
    command += ["--store", "azure", "--state-dir", str(state)]
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    return result, time.monotonic() - started


def test_an_unreachable_account_ends_start_up_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    result, seconds = _start_with(azurite_connection_string(port, port, port), tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot reach the storage account in AzureWebJobsStorage" in lines[0]
    assert seconds < 45  # loose: the SDK's default retries would wait a minute and more


def test_a_wrong_key_ends_start_up_with_one_line(azurite: Azurite, tmp_path: Path) -> None:
    wrong = azurite.connection_string.replace(ACCOUNT_KEY, "d3JvbmcgYWNjb3VudCBrZXk=")
    result, seconds = _start_with(wrong, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "refused its credentials" in lines[0]
    assert "AccountKey in AzureWebJobsStorage" in lines[0]
    assert seconds < 45  # loose, as above


def test_the_host_stops_on_sigterm_even_while_storage_is_away(tmp_path: Path, sdk: SdkLoop) -> None:
    counters = tmp_path / "counters"
    counters.mkdir()
    azurite = start_azurite(tmp_path / "azurite")
    env = {
        "FEATURES_COUNTER_DIR": str(counters),
        "TICK_SCHEDULE": "0 0 0 1 1 *",
        "AzureWebJobsStorage": azurite.connection_string,
    }
    host = DevHostProcess(APP, state_dir=tmp_path / "state", env=env, extra_args=["--store", "azure"])
    try:
        host.start()
        client = Client(host, sdk, hub="FeaturesHub")
        client.start_new("slow_fan_out", None, 2000)
        client.wait_for(lambda: _executions(counters) >= 100, what="some activities")
        azurite.stop()
        assert host.process is not None
        client.wait_for(lambda: "storage unreachable" in "".join(host.output), what="the outage to be noticed")
        host.stop(timeout=60)
        # `stop` sends SIGTERM and falls back to SIGKILL only when the process has not ended after the timeout.
        assert host.process.returncode is not None
        assert host.process.returncode != -signal.SIGKILL, "the host did not stop on SIGTERM"
    finally:
        host.stop()
        azurite.stop()
