"""`durable-batch schedule ...` run as a user runs it, against devhost + Azurite: create from a file and from
standard input, list, show, disable, enable, delete, and an API error printed with its path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.api.jobs import billing_job
from tests.e2e.batch_host import BatchHost
from tests.e2e.cli.test_cli import cli

pytestmark = pytest.mark.e2e


def test_schedule_commands(batch_host: BatchHost, tmp_path: Path) -> None:
    schedule_id = batch_host.unique_id("cli-sched")
    body = {"id": schedule_id, "schedule": "0 0 2 * * *", "jobSpecification": billing_job(None, tasks=1)}
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(body))
    try:
        created = cli(batch_host, "schedule", "create", str(path))
        assert created.returncode == 0, created.stderr
        assert schedule_id in created.stdout and "active" in created.stdout
        # The same body from standard input is the same schedule.
        again = cli(batch_host, "schedule", "create", "-", "--output", "json", stdin=json.dumps(body))
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["id"] == schedule_id

        listed = cli(batch_host, "schedule", "list", "--top", "1000", "--output", "json")
        assert listed.returncode == 0, listed.stderr
        assert schedule_id in [item["id"] for item in json.loads(listed.stdout)["value"]]
        table = cli(batch_host, "schedule", "list", "--top", "1000")
        assert schedule_id in table.stdout and "0 0 2 * * *" in table.stdout

        disabled = cli(batch_host, "schedule", "disable", schedule_id, "--output", "json")
        assert disabled.returncode == 0 and json.loads(disabled.stdout)["state"] == "disabled"
        shown = cli(batch_host, "schedule", "show", schedule_id)
        assert shown.returncode == 0 and "disabled" in shown.stdout
        enabled = cli(batch_host, "schedule", "enable", schedule_id)
        assert enabled.returncode == 0 and "active" in enabled.stdout

        deleted = cli(batch_host, "schedule", "delete", schedule_id)
        assert deleted.returncode == 0 and f"deleted schedule {schedule_id}" in deleted.stderr
        missing = cli(batch_host, "schedule", "show", schedule_id)
        assert missing.returncode == 2 and "scheduleNotFound" in missing.stderr
    finally:
        batch_host.delete(f"/schedules/{schedule_id}")


def test_a_refused_schedule_prints_each_problem_with_its_path(batch_host: BatchHost) -> None:
    bad = {"id": "cli-bad", "schedule": "* * * * *", "jobSpecification": {"tasks": [{"id": "a", "handler": "x"}]}}
    result = cli(batch_host, "schedule", "create", "-", stdin=json.dumps(bad))
    assert result.returncode == 2
    assert "invalidSchedule" in result.stderr
    assert "  schedule: " in result.stderr and "  jobSpecification.tasks[0].handler: " in result.stderr
