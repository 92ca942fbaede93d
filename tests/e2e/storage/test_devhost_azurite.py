"""The Azurite launcher: free ports, readiness, SIGTERM keeps data, stops only its PID, the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.azurite import Azurite, AzuriteNotInstalled, find_azurite_script, start_azurite
from durable_batch.storage import ClientOptions, ContainerBlobs, ResultStore, get_account

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[3]


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_session_emulator_listens_on_its_ports(azurite: Azurite) -> None:
    ports = {azurite.blob_port, azurite.queue_port, azurite.table_port}
    assert len(ports) == 3
    assert all(accepts(port) for port in ports)
    for port in ports:
        assert f"http://127.0.0.1:{port}/devstoreaccount1;" in azurite.connection_string


def test_a_missing_install_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(AzuriteNotInstalled, match="npm install azurite"):
        find_azurite_script(tmp_path)
    assert find_azurite_script().is_file()


def test_an_apps_own_node_modules_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "node_modules" / "azurite" / "dist" / "src" / "azurite.js"
    script.parent.mkdir(parents=True)
    script.write_text("// an app's own Azurite\n")
    monkeypatch.chdir(tmp_path)
    assert find_azurite_script() == script


def test_stop_ends_the_process_and_sigterm_keeps_recent_writes(tmp_path: Path) -> None:
    with start_azurite(tmp_path) as first:
        account = get_account(first.connection_string, ClientOptions(retry_total=0))
        store = ResultStore(ContainerBlobs(account, "batch-results"))
        store.write_summary("kept-job", {"n": 1})
    # Stopped within Azurite's 5 s save interval: only a clean (SIGTERM) shutdown keeps the blob.
    assert not alive(first.pid)
    assert not accepts(first.blob_port)
    assert first.stop() == 0  # a second stop is harmless

    with start_azurite(tmp_path) as second:
        account = get_account(second.connection_string, ClientOptions(retry_total=0))
        store = ResultStore(ContainerBlobs(account, "batch-results"))
        assert store.read_summary("kept-job") == {"n": 1}


def test_the_command_line_runs_until_interrupted(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "devhost.azurite", "--location", str(tmp_path)]
    argv += ["--blob-port", "0", "--queue-port", "0", "--table-port", "0"]
    # A Ctrl-C at a terminal: the child starts with SIGINT at its default, whatever the runner's. A test runner
    # started in the background by a shell ignores SIGINT, and a child inherits that (and then never stops).
    runners = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, runners)
    azurite_pid: int | None = None
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("Azurite is running (pid ")
        azurite_pid = int(banner.split("(pid ", 1)[1].split(",", 1)[0])
        assert process.stdout.readline().strip() == "Ctrl-C stops it."
        setting = process.stdout.readline().strip()
        assert setting.startswith("AzureWebJobsStorage=DefaultEndpointsProtocol=http;")
        blob_port = int(setting.split("BlobEndpoint=http://127.0.0.1:", 1)[1].split("/", 1)[0])
        assert accepts(blob_port)

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert not alive(azurite_pid)
        assert not accepts(blob_port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        # Killed, the launcher cannot stop its Azurite: the test does, so that a failure leaves nothing running.
        if azurite_pid is not None and alive(azurite_pid):
            os.kill(azurite_pid, signal.SIGKILL)
        if process.stdout is not None:
            process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()
