"""A submit of a job that exists already with the same spec: the existing job's view, from one read of its
orchestration (the submit's own, which decided that nothing new starts)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import azure.functions as func
import pytest

from durable_batch.api.jobs import submit
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch import builtin, wire

pytestmark = pytest.mark.unit

SPEC = {"id": "again", "tasks": [{"id": "a", "handler": builtin.ECHO, "input": 1}]}


class CountingDurable:
    """Starts instances and answers their status, counting each status read."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.reads: list[tuple[str, bool]] = []

    async def start_new(self, name: str, instance_id: str, data: Any) -> str:
        assert name == wire.JOB_ORCHESTRATOR
        self.running.add(instance_id)
        return instance_id

    async def get_status(self, instance_id: str, show_input: bool = False) -> Any:
        self.reads.append((instance_id, show_input))
        known = instance_id in self.running
        return SimpleNamespace(
            runtime_status="Running" if known else None,
            custom_status={"taskCounts": {"total": 1, "pending": 1}} if known else None,
            output=None,
            created_time=None,
            last_updated_time=None,
            input_={"jobId": instance_id} if known and show_input else None,
        )


def post(client: CountingDurable, services: Services) -> func.HttpResponse:
    request = func.HttpRequest("POST", "http://localhost/api/jobs", body=json.dumps(SPEC).encode())
    return asyncio.run(submit(request, client, services))


def test_a_second_submit_of_the_same_spec_reads_the_orchestration_once() -> None:
    services = Services.in_memory(Settings.from_environ({}), builtin.handlers)
    client = CountingDurable()
    first = post(client, services)
    assert first.status_code == 202 and client.reads == []  # a new job: nothing to ask
    again = post(client, services)
    assert again.status_code == 200
    view = json.loads(again.get_body())
    assert (view["id"], view["state"]) == ("again", "running")
    # One read, with the input the view's run needs; running children would be read on their own.
    assert client.reads == [("again", True)]
