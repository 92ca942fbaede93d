"""`Services.in_memory`: the stores the activities use, in memory, private to each Services."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch.handlers import TaskHandlers
from durable_batch.storage import JobRecord, JobState, StorageConfigError

pytestmark = pytest.mark.unit


def test_each_services_has_its_own_empty_stores_and_needs_no_account() -> None:
    first = Services.in_memory(Settings(storage={}), TaskHandlers())
    second = Services.in_memory(Settings(storage={}), TaskHandlers())
    first.results.write_summary("j", {"n": 1})
    assert first.jobs.create_job(JobRecord("j", JobState.PENDING, created=datetime(2026, 1, 1, tzinfo=UTC)))
    first.tasks.create_job("j", "layout", [(0, 0, ["t0", "t1"])])
    assert first.results.read_summary("j") == {"n": 1} and second.results.read_summary("j") is None
    assert first.jobs.get_job("j") is not None and second.jobs.get_job("j") is None
    assert first.tasks.counts("j").pending == 2 and second.tasks.counts("j").total == 0


def test_the_results_container_follows_the_setting_and_sources_still_need_an_account() -> None:
    services = Services.in_memory(Settings(storage={"BATCH_RESULTS_CONTAINER": "custom"}), TaskHandlers())
    assert services.results.container_name == "custom"
    assert Services.in_memory(Settings(storage={}), TaskHandlers()).results.container_name == "batch-results"
    with pytest.raises(StorageConfigError, match="AzureWebJobsStorage"):
        _ = services.sources
