"""devhost's worker processes end to end: `def` activities run apart from the host by default; a worker that
dies fails exactly the activities it was running, with its exit code or signal, and is replaced at once, while
what it had not taken runs on its replacement; the host serves on. A worker pool that cannot load the app fails
requests instead of starting processes in a loop."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.memory import ARENAS
from devhost.testing import DevHostProcess
from devhost.workers import worker_process_count
from tests.conftest import SdkLoop
from tests.e2e.jobs.support import child_processes, kill_leftovers, process_is_gone
from tests.host.helpers import Client

APPS = Path(__file__).resolve().parent.parent / "apps"
pytestmark = pytest.mark.host


@pytest.fixture
def stopped_workers() -> Iterator[set[int]]:
    """Worker pids a test saw: at its end each must be gone with its host (killed if a failed test left one)."""
    seen: set[int] = set()
    yield seen
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(process_is_gone(pid) for pid in seen):
        time.sleep(0.05)  # a worker ends a moment after its host tells it to
    leftovers = {pid for pid in seen if not process_is_gone(pid)}
    kill_leftovers(leftovers)
    assert not leftovers, f"worker processes outlived their host: {leftovers}"


def _start(tmp_path: Path, app: str = "features", args: list[str] | None = None, **env: str) -> DevHostProcess:
    settings = {"FEATURES_COUNTER_DIR": str(tmp_path), "TICK_SCHEDULE": "0 0 0 1 1 *", **env}
    return DevHostProcess(APPS / app, state_dir=tmp_path / "state", env=settings, extra_args=args)


def _workers(host: DevHostProcess) -> set[int]:
    """The host's worker processes (not multiprocessing's resource tracker, its other child)."""
    assert host.process is not None
    return {pid for pid in child_processes(host.process.pid) if b"spawn_main" in _command_line(pid)}


def _environment(pid: int) -> list[bytes]:
    return (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")


def _command_line(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:  # ended meanwhile
        return b""


@pytest.mark.parametrize(
    ("how", "ended"),
    [
        ({"code": 137}, "exit code 137"),
        ({"signal": "SIGKILL"}, "signal SIGKILL"),
        ({"segfault": True}, "signal SIGSEGV"),
    ],
)
def test_a_dead_worker_fails_what_it_ran_and_its_replacement_runs_the_rest(
    tmp_path: Path, sdk: SdkLoop, stopped_workers: set[int], how: dict[str, Any], ended: str
) -> None:
    # One worker with three threads: two naps and `die` run on it together; the three doubles wait their turn.
    host = _start(
        tmp_path,
        FUNCTIONS_WORKER_PROCESS_COUNT="1",
        AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions="3",
    )
    try:
        host.start()
        client = Client(host, sdk, hub="FeaturesHub")
        stopped_workers |= _workers(host)
        spec = {"naps": 2, "seconds": 30, "how": how, "after": 3}
        status = client.wait(client.start_new("dying", None, spec), timeout=60)
        assert status.runtime_status.value == "Completed", status.output
        outcomes = status.output
        assert [state for state, _ in outcomes] == ["failed", "failed", "failed", "ok", "ok", "ok"]
        reasons = [text.split(" \n ")[0] for _, text in outcomes[:3]]
        assert reasons == [
            f"Activity function 'nap' failed: WorkerProcessDied: its process died ({ended})",
            f"Activity function 'nap' failed: WorkerProcessDied: its process died ({ended})",
            f"Activity function 'die' failed: WorkerProcessDied: its process died ({ended})",
        ]
        (dead,) = stopped_workers
        assert outcomes[0][1].split(" \n ")[1] == (
            f"The worker process (pid {dead}) that ran this activity ended ({ended}) while it ran 3 activities; "
            "each of them failed. devhost started another worker in its place."
        )
        # What the dead worker had not taken ran on its replacement; the host serves on.
        assert [value for _, value in outcomes[3:]] == [0, 2, 4]
        assert host.process is not None and host.process.poll() is None
        pids = client.wait(client.start_new("where_activities_run", None, 20)).output
        assert len(pids) == 1 and pids[0] != dead and pids[0] != host.process.pid
        assert process_is_gone(dead)
        stopped_workers |= _workers(host)
    finally:
        host.stop()


def test_def_activities_run_in_worker_processes_by_default(
    tmp_path: Path, sdk: SdkLoop, stopped_workers: set[int]
) -> None:
    with _start(tmp_path) as host:
        client = Client(host, sdk, hub="FeaturesHub")
        pids = client.wait(client.start_new("where_activities_run", None, 400), timeout=120).output
        workers = _workers(host)
        stopped_workers |= workers
        assert host.process is not None and host.process.pid not in pids
        assert set(pids) == workers
        assert len(workers) == worker_process_count({})
        # The host bounds its workers' malloc arenas as they start (a value of the user's own is kept).
        arenas = os.environ.get("MALLOC_ARENA_MAX", str(ARENAS))
        for pid in workers:
            assert f"MALLOC_ARENA_MAX={arenas}".encode() in _environment(pid), pid


def test_in_process_runs_def_activities_in_the_host(tmp_path: Path, sdk: SdkLoop) -> None:
    with _start(tmp_path, args=["--in-process"]) as host:
        client = Client(host, sdk, hub="FeaturesHub")
        pids = client.wait(client.start_new("where_activities_run", None, 20)).output
        assert host.process is not None and pids == [host.process.pid]
        assert _workers(host) == set()


def test_workers_that_cannot_load_the_app_fail_the_activity_instead_of_looping(
    tmp_path: Path, sdk: SdkLoop, stopped_workers: set[int]
) -> None:
    with _start(tmp_path, "devhost_workers_fail", FUNCTIONS_WORKER_PROCESS_COUNT="1") as host:
        client = Client(host, sdk)
        status = client.wait(client.start_new("call_once", None, None), timeout=60)
        reason, details = str(status.output).split(" \n ")
        assert reason == (
            "Activity function 'never' failed: WorkerProcessDied: its process died (exit code 1) before it "
            "loaded the app"
        )
        assert re.fullmatch(
            r"3 worker processes in a row ended before they loaded the app, the last one \(pid \d+\) with exit "
            r"code 1; devhost starts no more: fix the app and restart devhost\.",
            details,
        ), details
        stopped_workers |= _workers(host)
        assert stopped_workers == set(), "the pool went on starting workers"


def test_devhost_listens_once_a_worker_has_loaded_the_app(
    tmp_path: Path, sdk: SdkLoop, stopped_workers: set[int]
) -> None:
    # Workers that take 3 s to load the app: as the Functions host routes to an app's functions only once a
    # worker has indexed it, the first request finds a worker ready rather than queueing behind the imports.
    loaded = tmp_path / "loaded"
    loaded.mkdir()
    with _start(
        tmp_path, "devhost_slow_workers", SLOW_WORKERS_DIR=str(loaded), FUNCTIONS_WORKER_PROCESS_COUNT="2"
    ) as host:
        stopped_workers |= _workers(host)
        ready = {int(path.name.removeprefix("loaded-")) for path in loaded.iterdir()}
        assert ready and ready <= stopped_workers, "devhost listened before any worker had loaded the app"
        client = Client(host, sdk)
        status = client.wait(client.start_new("call_once", None, None), timeout=60)
        assert status.output == 42
