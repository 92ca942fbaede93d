"""What the view of a job starts from while storage is slow (`view_inputs`): a running job's view answers from
the record read last instead of waiting; a job whose orchestration is not running, or whose record was written
since, waits for its record."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest

from durable_batch.app.handlers import app_handlers
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch.handlers import TaskHandlers
from durable_batch.operations.control import VIEW_WAIT_SECONDS, view_inputs
from durable_batch.storage.jobs import JobRecord, JobState
from durable_batch.storage.rows import MemoryRows, Row
from tests.support.durable_client import FakeDurable

pytestmark = pytest.mark.unit

CREATED = datetime(2026, 12, 7, tzinfo=UTC)


class SlowRows(MemoryRows):
    """Memory rows whose reads wait while `open` is clear, as a table does while its storage pauses."""

    def __init__(self) -> None:
        super().__init__()
        self.open = threading.Event()
        self.open.set()

    def get(self, partition: str, key: str) -> Row | None:
        assert self.open.wait(10), "a read waited for storage that never came back"
        return super().get(partition, key)


def setup(running: bool) -> tuple[Services, SlowRows, FakeDurable]:
    rows = SlowRows()
    services = Services.in_memory(Settings(storage={}), app_handlers(TaskHandlers()), job_rows=rows)
    services.jobs.upsert_job(JobRecord("j", JobState.RUNNING, CREATED))
    client = FakeDurable()
    if running:
        client.statuses["j"] = "Running"
    return services, rows, client


async def timed_view(services: Services, client: FakeDurable, rows: SlowRows) -> tuple[float, JobState]:
    began = time.monotonic()
    view = asyncio.ensure_future(view_inputs(client, services, "j"))
    await asyncio.wait({view}, timeout=1.0)
    waited = time.monotonic() - began
    rows.open.set()
    record, _ = await view
    return waited, record.state


def test_a_running_jobs_view_answers_from_the_record_read_last_while_storage_is_slow() -> None:
    services, rows, client = setup(running=True)

    async def scenario() -> None:
        record, instance = await view_inputs(client, services, "j")  # read, remembered
        assert record.state == JobState.RUNNING and instance is not None and instance.is_active
        rows.open.clear()
        waited, state = await timed_view(services, client, rows)
        assert waited < 1.0 and state == JobState.RUNNING
        assert waited >= VIEW_WAIT_SECONDS * 0.9  # it gave the read its chance first

    asyncio.run(scenario())


@pytest.mark.parametrize("case", ["not running", "written since", "never read"])
def test_a_view_waits_for_the_record_when_the_last_one_will_not_do(case: str) -> None:
    services, rows, client = setup(running=case != "not running")

    async def scenario() -> None:
        if case != "never read":
            await view_inputs(client, services, "j")
        if case == "written since":
            services.jobs.upsert_job(JobRecord("j", JobState.CANCELLING, CREATED))
        rows.open.clear()
        waited, state = await timed_view(services, client, rows)
        assert waited >= 1.0  # it waited for storage
        assert state == (JobState.CANCELLING if case == "written since" else JobState.RUNNING)

    asyncio.run(scenario())
