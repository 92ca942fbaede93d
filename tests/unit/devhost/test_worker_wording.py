"""How devhost words a dead worker's activities, and how many worker processes it starts."""

from __future__ import annotations

import pytest

from devhost.workers import death_reason, default_process_count, died, worker_process_count

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("exitcode", "reason"),
    [
        (137, "its process died (exit code 137)"),
        (1, "its process died (exit code 1)"),
        (-9, "its process died (signal SIGKILL)"),
        (-11, "its process died (signal SIGSEGV)"),
        (-6, "its process died (signal SIGABRT)"),
        (-200, "its process died (signal 200)"),
        (None, "its process died (its exit code unknown)"),
    ],
)
def test_a_death_is_named_by_its_exit_code_or_signal(exitcode: int | None, reason: str) -> None:
    assert death_reason(exitcode) == reason


def test_a_dead_workers_activity_fails_in_the_extensions_wording() -> None:
    outcome = died("batch_run_batch", "its process died (signal SIGKILL)", "what happened")
    assert outcome.result_text is None
    assert outcome.failure == (
        "Activity function 'batch_run_batch' failed: WorkerProcessDied: its process died (signal SIGKILL)",
        "what happened",
    )


@pytest.mark.parametrize(("cores", "count"), [(1, 2), (2, 2), (3, 3), (4, 4), (16, 4)])
def test_the_default_is_one_worker_per_core_from_2_to_4(cores: int, count: int) -> None:
    assert default_process_count(cores) == count
    assert worker_process_count({}, cores=cores) == count


@pytest.mark.parametrize(("value", "count"), [("1", 1), ("3", 3), ("10", 10), ("11", 10), ("0", 1), (" 2 ", 2)])
def test_the_setting_overrides_the_default_within_the_hosts_range(value: str, count: int) -> None:
    assert worker_process_count({"FUNCTIONS_WORKER_PROCESS_COUNT": value}, cores=2) == count


def test_a_setting_that_is_not_a_number_gives_the_default() -> None:
    assert worker_process_count({"FUNCTIONS_WORKER_PROCESS_COUNT": "many"}, cores=3) == 3
