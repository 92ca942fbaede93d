"""Crashes: devhost killed with SIGKILL in the middle of work loses nothing that had finished (on either store)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from devhost.testing import REPO_ROOT, DevHostProcess
from tests.conftest import SdkLoop
from tests.host.helpers import STORES, Client, store_setup

APP = Path(__file__).resolve().parent.parent / "apps" / "features"
pytestmark = pytest.mark.host


def _executions(counters: Path) -> list[int]:
    log = counters / "slow_double.log"
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def _history(client: Client, instance_id: str) -> list[dict[str, Any]]:
    status = client.get_status(instance_id, show_history=True, show_history_output=True)
    return list(getattr(status, "historyEvents", None) or [])


def _committed(client: Client, instance_id: str) -> set[int]:
    """The inputs of the `slow_double` activities whose completion the instance's history holds (the host has
    committed it): `slow_double(i)` returns `2 * i`."""
    return {int(e["Result"]) // 2 for e in _history(client, instance_id) if e["EventType"] == "TaskCompleted"}


@pytest.mark.parametrize("store_kind", STORES)
def test_kill_during_fan_out_then_restart_completes_without_losing_results(
    tmp_path: Path, sdk: SdkLoop, store_kind: str, request: pytest.FixtureRequest
) -> None:
    store = store_setup(store_kind, request)
    counters, state = tmp_path / "counters", tmp_path / "state"
    counters.mkdir()
    env = {"FEATURES_COUNTER_DIR": str(counters), "TICK_SCHEDULE": "0 0 0 1 1 *", **store.env}
    n = 1000
    first = DevHostProcess(APP, state_dir=state, env=env, extra_args=store.args).start()
    try:
        client = Client(first, sdk, hub=store.hub)
        instance_id = client.start_new("slow_fan_out", None, n)
        client.wait_for(lambda: len(_executions(counters)) >= n // 3, what="a third of the activities")
        committed = _committed(client, instance_id)
    finally:
        first.kill()
    done_before_kill = len(_executions(counters))
    assert done_before_kill < n, "the fan-out finished before the kill; the test proves nothing"
    assert committed, "no completion was committed before the kill; the test proves nothing"

    with DevHostProcess(APP, state_dir=state, env=env, extra_args=store.args) as second:
        client = Client(second, sdk, hub=store.hub)
        status = client.wait(instance_id, timeout=120)
    assert status.runtime_status.value == "Completed"
    assert status.output == sum(2 * i for i in range(n))
    runs = _executions(counters)
    assert set(runs) == set(range(n))
    # At least once, and again only what had run without its completion committed: an activity the history
    # held as completed before the kill never runs again, and the re-runs are at most the activities that had
    # run by the kill minus those the history held (read just before the kill, so a superset of the gap).
    counts = Counter(runs)
    again = {i for i, count in counts.items() if count > 1}
    assert not again & committed, sorted(again & committed)[:10]
    assert max(counts.values()) <= 2, counts.most_common(3)
    assert len(runs) - n <= done_before_kill - len(committed), (len(runs) - n, done_before_kill, len(committed))


@pytest.mark.parametrize("store_kind", STORES)
def test_timer_pending_at_a_kill_still_fires_after_restart(
    tmp_path: Path, sdk: SdkLoop, store_kind: str, request: pytest.FixtureRequest
) -> None:
    store = store_setup(store_kind, request)
    env = {"FEATURES_COUNTER_DIR": str(tmp_path), "TICK_SCHEDULE": "0 0 0 1 1 *", **store.env}
    state = tmp_path / "state"
    first = DevHostProcess(APP, state_dir=state, env=env, manual_clock=True, extra_args=store.args).start()
    try:
        client = Client(first, sdk, hub=store.hub)
        instance_id = client.start_new("sleeper", None, None)
        client.wait_for(
            lambda: any(e["EventType"] == "TimerCreated" for e in _history(client, instance_id)),
            what="the timer to be committed",
        )
    finally:
        first.kill()
    with DevHostProcess(APP, state_dir=state, env=env, manual_clock=True, extra_args=store.args) as second:
        client = Client(second, sdk, hub=store.hub)
        status = client.wait(instance_id, advance=1800)
    assert status.output == 3600.0


def test_an_app_that_fails_to_import_exits_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("import azure.functions as func\n\nraise RuntimeError('bad config')\n")
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "start", "--script-root", str(tmp_path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode != 0
    assert "function_app.py" in result.stderr
    assert "function_app.py:3" in result.stderr
    assert "bad config" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_processes_run_sync_activities_outside_the_host(tmp_path: Path, sdk: SdkLoop) -> None:
    env = {"FEATURES_COUNTER_DIR": str(tmp_path), "TICK_SCHEDULE": "0 0 0 1 1 *", "FUNCTIONS_WORKER_PROCESS_COUNT": "2"}
    with DevHostProcess(APP, state_dir=tmp_path / "state", env=env) as host:
        assert host.process is not None
        client = Client(host, sdk, hub="FeaturesHub")
        status = client.wait(client.start_new("where_activities_run", None, 400), timeout=120)
        pids = status.output
        assert host.process.pid not in pids
        assert len(pids) == 2  # both workers took activities
        # The ordinary features still work with workers: a fan-out with results.
        assert client.wait(client.start_new("fan_out", None, 300)).output == sum(2 * i for i in range(300))
