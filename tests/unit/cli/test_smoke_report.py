"""The smoke check's verdicts that a healthy app never gives: a failed job, a wrong result, a job that hangs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable_batch.cli.client import JobApi
from durable_batch.cli.smoke import SMOKE_TASKS, run_smoke

pytestmark = pytest.mark.unit


class FakeApi(JobApi):
    """Answers as an app would whose job ends in `final` after `polls` polls, echoing `echo(input)`."""

    def __init__(self, final: str = "succeeded", polls: int = 1, echo: Any = None) -> None:
        super().__init__("http://app.invalid")
        self.final, self.polls, self.echo = final, polls, echo or (lambda value: value)
        self.inputs: dict[str, Any] = {}
        self.job_id = ""

    def submit(self, spec: bytes) -> tuple[dict[str, Any], bool]:
        job = json.loads(spec)
        self.job_id = job["id"]
        self.inputs = {task["id"]: task["input"] for task in job["tasks"]}
        return {"id": self.job_id, "state": "pending"}, True

    def job(self, job_id: str) -> dict[str, Any]:
        assert job_id == self.job_id
        self.polls -= 1
        state = self.final if self.polls <= 0 else "running"
        return {"id": job_id, "state": state, "reason": "task echo-1 failed" if state == "failed" else None}

    def task(self, job_id: str, task_id: str) -> dict[str, Any]:
        return {"id": task_id, "result": self.echo(self.inputs[task_id])}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_succeeded_job_whose_tasks_echo_their_inputs_passes() -> None:
    api, clock = FakeApi(polls=3), Clock()
    report = run_smoke(api, clock=clock, sleep=clock.sleep)
    assert report.ok and report.state == "succeeded" and report.seconds == 3.0
    assert len(api.inputs) == SMOKE_TASKS and report.job_id.startswith("smoke-")


def test_a_failed_job_fails_the_check_with_the_jobs_reason() -> None:
    clock = Clock()
    report = run_smoke(FakeApi(final="failed"), clock=clock, sleep=clock.sleep)
    assert not report.ok and report.problems == ["the job failed: task echo-1 failed"]


def test_a_result_that_is_not_the_input_fails_the_check() -> None:
    clock = Clock()
    report = run_smoke(FakeApi(echo=lambda value: {**value, "n": 0}), clock=clock, sleep=clock.sleep)
    assert not report.ok and len(report.problems) == SMOKE_TASKS
    assert "task echo-1 returned" in report.problems[0]


def test_a_job_that_does_not_finish_in_time_fails_the_check() -> None:
    clock = Clock()
    report = run_smoke(FakeApi(polls=1000), timeout=10, clock=clock, sleep=clock.sleep)
    assert not report.ok and report.state == "running" and report.problems == ["still running after 10s"]
