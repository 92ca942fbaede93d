"""`durable-batch pool ...` and a job's pool in `job show`, run as a user runs them against devhost + Azurite:
define and resize a pool, list and show it, a job in it, refusals printed with their paths, delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.batch_host import BatchHost
from tests.e2e.cli.test_cli import cli, write_spec

pytestmark = pytest.mark.e2e


def test_pool_commands_and_a_job_in_the_pool(batch_host: BatchHost, tmp_path: Path) -> None:
    pool_id = batch_host.unique_id("cli-pool")
    created = cli(batch_host, "pool", "update", pool_id, "--task-slots", "4")
    assert created.returncode == 0, created.stderr
    assert f"pool {pool_id}: 0 of 4 slots in use" in created.stdout
    resized = cli(batch_host, "pool", "update", pool_id, "--task-slots", "6", "--output", "json")
    assert resized.returncode == 0 and json.loads(resized.stdout)["taskSlots"] == 6

    listed = cli(batch_host, "pool", "list", "--top", "1000")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if pool_id in line)
    assert row.split("│")[2].strip() == "6"
    assert "default" in listed.stdout

    job_id = batch_host.unique_id("cli-pooled")
    spec = {
        "id": job_id,
        "poolInfo": {"poolId": pool_id},
        "priority": 12,
        "tasks": [{"id": "a", "handler": "builtin.echo", "input": 1}],
    }
    done = cli(batch_host, "job", "submit", write_spec(tmp_path, spec), "--watch")
    assert done.returncode == 0, done.stderr
    shown = cli(batch_host, "job", "show", job_id)
    assert f"{pool_id}  priority=12" in shown.stdout

    refused = cli(batch_host, "pool", "update", pool_id, "--task-slots", "0")
    assert refused.returncode == 2
    assert "invalidPool" in refused.stderr and "taskSlots: must be from 1 to 100,000, not 0" in refused.stderr

    deleted = cli(batch_host, "pool", "delete", pool_id)
    assert deleted.returncode == 0 and f"deleted pool {pool_id}" in deleted.stderr
    missing = cli(batch_host, "pool", "show", pool_id)
    assert missing.returncode == 2 and "poolNotFound" in missing.stderr
