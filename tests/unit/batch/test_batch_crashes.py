"""The rules for batches whose process died or that could not run (batch.crashes), without the SDK."""

from __future__ import annotations

import pytest

from durable_batch.batch.crashes import (
    MAX_DEATHS,
    MAX_RUNS,
    BatchFailures,
    Delivery,
    Recovery,
    Verdict,
    death_reason,
    delivery_verdict,
    process_death,
)

pytestmark = pytest.mark.unit

DEVHOST = "Activity function 'batch_run_batch' failed: WorkerProcessDied: its process died (exit code 137) \n details"


@pytest.mark.parametrize(
    ("error", "death"),
    [
        (DEVHOST, "its process died (exit code 137)"),
        (
            "Activity function 'x' failed: WorkerProcessDied: its process died (signal SIGKILL)",
            "its process died (signal SIGKILL)",
        ),
        (
            "Exception while executing function: Functions.batch_run_batch \n "
            "Microsoft.Azure.WebJobs.Script.Workers.WorkerProcessExitException : python exited with code 137",
            "its process died (exit code 137)",
        ),
        ("WorkerProcessExitException: the worker went away", "its process died"),
        ("its process died: delivery 2 of batch 7 found that an earlier one ...", "its process died"),
        ("Activity function 'batch_run_batch' failed: StorageError: the table service is unreachable", None),
        ("", None),
    ],
)
def test_a_death_is_read_from_either_hosts_failure(error: str, death: str | None) -> None:
    assert process_death(error) == death


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (137, "its process died (exit code 137)"),
        (-9, "its process died (signal SIGKILL)"),
        (-99, "its process died (signal 99)"),
    ],
)
def test_a_tasks_own_process_is_named_as_devhost_names_a_worker(code: int, reason: str) -> None:
    assert death_reason(code) == reason


def test_a_died_batch_runs_again_isolated_and_charges_nobody() -> None:
    failures = BatchFailures()
    assert failures.failed([(3, 1), (4, 2)], DEVHOST) == Recovery(isolated=[(3, 1), (4, 2)])
    assert failures.is_isolated(3) and failures.is_isolated(4) and not failures.is_isolated(5)


def test_a_task_whose_batches_keep_dying_fails_after_the_bound() -> None:
    failures = BatchFailures()
    for _ in range(MAX_DEATHS - 1):
        assert failures.died([(0, 1)], "its process died (signal SIGKILL)") == Recovery(isolated=[(0, 1)])
    assert failures.died([(0, 1), (1, 1)], "its process died (signal SIGKILL)") == Recovery(
        isolated=[(1, 1)],
        failed=[
            (
                0,
                1,
                f"ProcessDied: its process died (signal SIGKILL); {MAX_DEATHS} batches that ran this task died "
                "without telling which task ended their process, the last ones running it in a process of its own",
            )
        ],
    )


def test_a_batch_that_could_not_run_runs_again_later_up_to_the_bound() -> None:
    failures = BatchFailures()
    error = "Activity function 'batch_run_batch' failed: StorageError: unreachable \n Traceback ..."
    for _ in range(MAX_RUNS - 1):
        assert failures.failed([(7, 2)], error) == Recovery(later=[(7, 2)])
    assert failures.failed([(7, 2)], error) == Recovery(
        failed=[
            (
                7,
                2,
                "the batch that ran this task failed: Activity function 'batch_run_batch' failed: StorageError: "
                "unreachable",
            )
        ]
    )
    assert not failures.is_isolated(7)


HOST_A, HOST_B = "m1:100", "m2:200"


@pytest.mark.parametrize(
    ("earlier", "verdict", "count"),
    [
        (None, Verdict.RUN, 1),
        # The host restarted its dead worker and delivered the batch again: the predecessor died.
        (Delivery(HOST_A, "m1:555"), Verdict.DIED, 2),
        # The host itself ended (devhost restarted after a crash): nothing against the batch; run it again.
        (Delivery(HOST_B, "m2:201"), Verdict.RUN_AGAIN, 2),
        (Delivery(HOST_B, "m2:201", count=2), Verdict.RUN_AGAIN, 3),
        # The same process twice: a duplicate delivery.
        (Delivery(HOST_A, "m1:101"), Verdict.RUN_AGAIN, 2),
    ],
)
def test_a_delivery_knows_whether_its_predecessor_died(earlier: Delivery | None, verdict: Verdict, count: int) -> None:
    this = Delivery(HOST_A, "m1:101")
    assert delivery_verdict(earlier, this) == (verdict, Delivery(HOST_A, "m1:101", count))
