"""Exit conditions of command tasks, non-retryable handler errors and dependency id ranges, through the job API
on devhost and Azurite."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.jobs.support import (
    FeaturesHost,
    echo,
    failing,
    flaky,
    process_is_gone,
    python_command,
    read_pid,
)

pytestmark = pytest.mark.e2e


def exits_with(task_id: str, code: int, **extra: Any) -> dict[str, Any]:
    return python_command(task_id, f"import sys; sys.exit({code})", **extra)


def on_codes(*mappings: tuple[int, dict[str, Any]], **named: Any) -> dict[str, Any]:
    return {"exitCodes": [{"code": code, "exitOptions": options} for code, options in mappings], **named}


def state_and_attempts(host: FeaturesHost, job_id: str) -> dict[str, tuple[str, int]]:
    return {task_id: (r["state"], r["attempts"]) for task_id, r in host.tasks_of(job_id).items()}


def test_retry_false_ends_a_command_after_its_attempt(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("noretry")
    ranges = {"exitCodeRanges": [{"start": 10, "end": 19, "exitOptions": {"retry": False}}]}
    tasks = [
        exits_with("listed", 3, exitConditions=on_codes((3, {"retry": False}))),
        exits_with("in-range", 12, exitConditions=ranges),
        exits_with("default", 40, exitConditions=on_codes((3, {"retry": False}), default={"retry": False})),
        exits_with("other-code", 4, exitConditions=on_codes((3, {"retry": False}))),
        exits_with("range-misses", 20, exitConditions=ranges),
        {
            "id": "no-resource",
            "commandLine": ["true"],
            "resourceFiles": [{"blob": "inputs/absent-file.txt", "path": "absent.txt"}],
            "exitConditions": {"preProcessingError": {"retry": False}},
        },
    ]
    view = features_host.run(
        {
            "id": job_id,
            "maxTaskRetryCount": 2,
            "retryIntervalSeconds": 0,
            "toleratedFailurePercentage": 100,
            "tasks": tasks,
        }
    )
    assert view["state"] == "succeeded", view
    assert state_and_attempts(features_host, job_id) == {
        "listed": ("failed", 1),
        "in-range": ("failed", 1),
        "default": ("failed", 1),
        "other-code": ("failed", 3),
        "range-misses": ("failed", 3),
        "no-resource": ("failed", 1),
    }
    assert features_host.task(job_id, "listed")["result"]["exitCode"] == 3


def test_dependency_actions_satisfy_and_block(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("depaction")
    tasks = [
        exits_with("fails-but-satisfies", 2, exitConditions=on_codes((2, {"dependencyAction": "satisfy"}))),
        echo("runs-anyway", dependsOn=["fails-but-satisfies"]),
        exits_with("fails-and-blocks", 2, exitConditions=on_codes((7, {"dependencyAction": "satisfy"}))),
        echo("skipped-by-failure", dependsOn=["fails-and-blocks"]),
        exits_with("succeeds-but-blocks", 0, exitConditions=on_codes((0, {"dependencyAction": "block"}))),
        echo("skipped-by-success", dependsOn=["succeeds-but-blocks"]),
        echo("transitively-skipped", dependsOn=["skipped-by-success"]),
    ]
    view = features_host.run({"id": job_id, "toleratedFailurePercentage": 100, "tasks": tasks})
    assert view["state"] == "succeeded", view
    states = {task_id: state for task_id, (state, _) in state_and_attempts(features_host, job_id).items()}
    assert states == {
        "fails-but-satisfies": "failed",
        "runs-anyway": "succeeded",
        "fails-and-blocks": "failed",
        "skipped-by-failure": "skipped",
        "succeeds-but-blocks": "succeeded",
        "skipped-by-success": "skipped",
        "transitively-skipped": "skipped",
    }
    assert features_host.calls(job_id, "runs-anyway") == 1
    assert features_host.calls(job_id, "skipped-by-success") == 0


def test_job_action_terminate_ends_the_job_early(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("terminate")
    # One task at a time, in the submitted order: the terminating command runs before the others start.
    tasks = [
        exits_with("stopper", 0, exitConditions=on_codes((0, {"jobAction": "terminate"}))),
        *[echo(f"later{n}") for n in range(3)],
    ]
    view = features_host.run({"id": job_id, "maxParallelTasks": 1, "tasks": tasks})
    assert view["state"] == "succeeded", view
    assert view["reason"].startswith("a task's exit condition ended the job early (jobAction terminate)"), view
    assert view["taskCounts"]["succeeded"] == 1 and view["taskCounts"]["skipped"] == 3, view
    assert {features_host.calls(job_id, f"later{n}") for n in range(3)} == {0}

    # A failure that terminates fails the job, by the failure rule, with both reasons.
    job_id = features_host.unique_id("terminate-fail")
    tasks = [exits_with("stopper", 6, exitConditions=on_codes(default={"jobAction": "terminate"})), echo("later")]
    view = features_host.run({"id": job_id, "maxParallelTasks": 1, "tasks": tasks})
    assert view["state"] == "failed", view
    assert "jobAction terminate" in view["reason"] and "1 of 2 tasks failed" in view["reason"], view
    assert features_host.calls(job_id, "later") == 0


def test_job_action_disable_disables_the_job_until_it_is_enabled(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("disable")
    # One task at a time, in the submitted order: the disabling command ends before the others could start.
    tasks = [
        exits_with("stopper", 4, exitConditions=on_codes((4, {"jobAction": "disable"}))),
        *[echo(f"later{n}") for n in range(3)],
    ]
    spec = {"id": job_id, "maxParallelTasks": 1, "toleratedFailurePercentage": 100, "tasks": tasks}
    assert features_host.submit(spec).status_code == 202
    view = features_host.wait_for_job(job_id, states=frozenset({"disabled"}))
    assert view["disableTasks"] == "requeue", view
    features_host.wait_until(
        lambda: features_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 0, what="quiet"
    )
    stopper = features_host.task(job_id, "stopper")
    assert (stopper["state"], stopper["attempts"], stopper["result"]["exitCode"]) == ("failed", 1, 4), stopper
    later = [f"later{n}" for n in range(3)]
    assert {task_id: features_host.task(job_id, task_id)["state"] for task_id in later} == dict.fromkeys(
        later, "pending"
    )
    assert {features_host.calls(job_id, task_id) for task_id in later} == {0}
    assert features_host.get(f"/jobs/{job_id}").json()["state"] == "disabled"

    assert features_host.post(f"/jobs/{job_id}/enable").status_code == 202
    view = features_host.wait_for_job(job_id, timeout=120)
    assert view["state"] == "succeeded", view
    assert view["taskCounts"]["failed"] == 1 and view["taskCounts"]["succeeded"] == 3, view
    assert {features_host.calls(job_id, task_id) for task_id in later} == {1}


def test_job_action_disable_on_success_requeues_a_running_command(features_host: FeaturesHost, tmp_path: Path) -> None:
    job_id = features_host.unique_id("disable-ok")
    pid_file, marker = tmp_path / "slow.pid", tmp_path / "ran-once"
    # `slow` sleeps for 600 s on its first run only: just the requeue's kill ends that run in time.
    slow = (
        "import os, pathlib, time\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.write_text('1')\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(600)\n"
    )
    # `stopper` succeeds once `slow` runs (exit 9 if it never does), and its exit 0 says disable.
    stopper = (
        "import os, sys, time\n"
        "end = time.monotonic() + 60\n"
        f"while not os.path.exists({str(pid_file)!r}):\n"
        "    if time.monotonic() > end:\n"
        "        sys.exit(9)\n"
        "    time.sleep(0.05)\n"
    )
    tasks = [
        python_command("slow", slow),
        python_command("stopper", stopper, exitConditions=on_codes((0, {"jobAction": "disable"}))),
        echo("next"),
    ]
    assert features_host.submit({"id": job_id, "maxParallelTasks": 2, "tasks": tasks}).status_code == 202
    features_host.wait_until(lambda: read_pid(pid_file) is not None, what="the slow command to start")
    pid = read_pid(pid_file)
    assert pid is not None
    try:
        assert features_host.wait_for_job(job_id, states=frozenset({"disabled"}))["state"] == "disabled"
        features_host.wait_until(lambda: process_is_gone(pid), timeout=60, what="the slow command to be stopped")
        features_host.wait_until(
            lambda: features_host.task(job_id, "slow")["state"] == "pending", timeout=60, what="the requeue"
        )
        assert features_host.task(job_id, "slow")["attempts"] == 0
        assert features_host.task(job_id, "stopper")["state"] == "succeeded"
        assert features_host.calls(job_id, "next") == 0
        assert features_host.get(f"/jobs/{job_id}").json()["state"] == "disabled"

        assert features_host.post(f"/jobs/{job_id}/enable").status_code == 202
        view = features_host.wait_for_job(job_id, timeout=120)
        assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == 3, view
        again = features_host.task(job_id, "slow")
        assert (again["state"], again["attempts"]) == ("succeeded", 1), again
        assert features_host.calls(job_id, "next") == 1
    finally:
        if not process_is_gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_job_action_none_keeps_a_terminate_job_running(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("jobnone")
    tasks = [
        exits_with("tolerated", 1, exitConditions=on_codes((1, {"jobAction": "none"}))),
        *[echo(f"later{n}") for n in range(3)],
        exits_with("stops-it", 1),
        echo("never"),
    ]
    view = features_host.run({"id": job_id, "maxParallelTasks": 1, "onTaskFailure": "terminateJob", "tasks": tasks})
    assert view["state"] == "failed", view
    states = state_and_attempts(features_host, job_id)
    assert [states[f"later{n}"][0] for n in range(3)] == ["succeeded"] * 3
    assert states["stops-it"][0] == "failed" and states["never"][0] == "skipped"
    assert "onTaskFailure is terminateJob" in view["reason"]


def test_non_retryable_handler_errors_end_their_task_after_one_attempt(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("nonretry")
    tasks: list[dict[str, Any]] = [
        {"id": "framework-type", "handler": "test.bad_input", "input": 1},
        {"id": "named-by-job", "handler": "test.raise", "input": {"error": "KeyError"}},
        {"id": "named-base", "handler": "test.raise", "input": {"error": "UnicodeError"}},
        {"id": "not-named", "handler": "test.raise", "input": {"error": "TypeError"}},
        {"id": "own-list", "handler": "test.raise", "input": {"error": "KeyError"}, "nonRetryableErrors": []},
        failing("retried", nonRetryableErrors=["builtins.TypeError"]),
        flaky("flaky", 1),
    ]
    spec = {
        "id": job_id,
        "maxTaskRetryCount": 2,
        "retryIntervalSeconds": 0,
        "toleratedFailurePercentage": 100,
        # KeyError by name; UnicodeError's base ValueError by its module and name.
        "nonRetryableErrors": ["KeyError", "builtins.ValueError"],
        "tasks": tasks,
    }
    view = features_host.run(spec)
    assert view["state"] == "succeeded", view
    calls = {task["id"]: features_host.calls(job_id, task["id"]) for task in tasks}
    assert calls == {
        "framework-type": 1,
        "named-by-job": 1,
        "named-base": 1,
        "not-named": 3,
        "own-list": 3,
        "retried": 3,
        "flaky": 2,
    }
    states = state_and_attempts(features_host, job_id)
    assert states["framework-type"] == ("failed", 1)
    assert states["flaky"] == ("succeeded", 2)
    assert features_host.tasks_of(job_id)["framework-type"]["error"].startswith("BadInput: framework-type has input 1")


def test_dependencies_by_id_range(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("ranges")
    numbered = [echo(str(n), n) for n in range(60)]  # more than a partition: the range keeps them together
    tasks = [
        {**echo("sum"), "dependsOn": {"taskIds": ["first"], "taskIdRanges": [{"start": 0, "end": 59}]}},
        echo("first"),
        *numbered,
        failing("100"),
        {
            **echo("after-failure"),
            "dependsOn": {"taskIdRanges": [{"start": 59, "end": 59}, {"start": 100, "end": 100}]},
        },
    ]
    view = features_host.run({"id": job_id, "toleratedFailurePercentage": 100, "tasks": tasks})
    assert view["state"] == "succeeded", view
    records = features_host.tasks_of(job_id)
    assert records["sum"]["state"] == "succeeded"
    last_end = max(records[str(n)]["endedAt"] for n in range(60))
    assert records["sum"]["startedAt"] >= max(last_end, records["first"]["endedAt"])
    assert records["after-failure"]["state"] == "skipped"


def test_bad_ranges_and_exit_conditions_get_a_400_with_their_paths(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("bad")
    spec = {
        "id": job_id,
        "tasks": [
            echo("0"),
            {**echo("x"), "dependsOn": {"taskIdRanges": [{"start": 0, "end": 5}, {"start": 3, "end": 1}]}},
            exits_with("c", 1, exitConditions={"exitCodes": [{"code": 1, "exitOptions": {"jobAction": "pause"}}]}),
            {**echo("h"), "nonRetryableErrors": ["not a name"]},
        ],
    }
    response = features_host.submit(spec)
    assert response.status_code == 400, response.text
    details = {d["path"]: d["message"] for d in response.json()["error"]["details"]}
    assert set(details) == {
        "tasks[1].dependsOn.taskIdRanges[0]",
        "tasks[1].dependsOn.taskIdRanges[1]",
        "tasks[2].exitConditions.exitCodes[0].exitOptions.jobAction",
        "tasks[3].nonRetryableErrors[0]",
    }, details
    job_action = details["tasks[2].exitConditions.exitCodes[0].exitOptions.jobAction"]
    assert job_action == "must be one of none, disable, terminate, not 'pause'"
    assert features_host.get(f"/jobs/{job_id}").status_code == 404
