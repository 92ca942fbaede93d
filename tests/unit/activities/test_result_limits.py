"""`BATCH_MAX_RESULT_BYTES`: a result (or a reduce output) whose JSON is larger fails its task at once, naming
its size and the limit, and nothing of it is stored."""

from __future__ import annotations

from typing import Any

import pytest

from durable_batch.activities.outcomes import ResultTooLarge, place_result
from durable_batch.app.settings import DEFAULT_MAX_RESULT_BYTES, Settings, SettingsError
from durable_batch.storage import MemoryBlobs, ResultStore
from tests.support.memory_batch import MemoryBatch, job, simulate

pytestmark = pytest.mark.unit

LIMIT = 2000
SETTINGS = {"BATCH_MAX_RESULT_BYTES": str(LIMIT)}


def test_the_setting_is_16_mib_by_default_and_a_positive_whole_number() -> None:
    assert Settings.from_environ({}).max_result_bytes == DEFAULT_MAX_RESULT_BYTES == 16 * 1024 * 1024
    assert Settings.from_environ(SETTINGS).max_result_bytes == LIMIT
    with pytest.raises(SettingsError, match="BATCH_MAX_RESULT_BYTES must be at least 1, not 0"):
        Settings.from_environ({"BATCH_MAX_RESULT_BYTES": "0"})


def test_a_result_at_the_limit_is_stored_and_one_byte_more_is_refused_unwritten() -> None:
    blobs = MemoryBlobs()
    results = ResultStore(blobs)
    at_limit = "a" * (LIMIT - 2)  # the JSON adds two quotes
    assert place_result(results, "j", "t1", at_limit, limit=LIMIT).blob == results.task_result_name("j", "t1")
    with pytest.raises(ResultTooLarge) as raised:
        place_result(results, "j", "t2", at_limit + "a", limit=LIMIT)
    assert str(raised.value) == (
        "the result is 2,001 bytes of JSON; the limit is 2,000 (BATCH_MAX_RESULT_BYTES). Write large output to "
        "Blob Storage and return where it is, or raise the setting"
    )
    assert list(blobs.list_names(results.task_prefix("j", "t2"))) == []


def test_the_limit_counts_utf8_bytes() -> None:
    with pytest.raises(ResultTooLarge, match="is 2,402 bytes of JSON"):
        place_result(ResultStore(MemoryBlobs()), "j", "t", "é" * 1200, limit=LIMIT)


def test_a_task_whose_result_is_over_the_limit_fails_at_once_with_the_reason() -> None:
    tasks: list[dict[str, Any]] = [
        {"id": "big", "handler": "t.ok", "input": "x" * LIMIT},
        {"id": "small", "handler": "t.ok", "input": 1},
    ]
    app = MemoryBatch(job(tasks, maxTaskRetryCount=3, retryIntervalSeconds=0), settings=SETTINGS)
    simulate(app).run_with_time()
    records = app.records
    assert records["small"] == {"state": "succeeded", "attempts": 1, "error": None}
    assert records["big"]["state"] == "failed"
    assert records["big"]["attempts"] == 1, "a result as large again is no reason to retry"
    assert app.attempts["big"] == 1
    assert records["big"]["error"] == (
        f"ResultTooLarge: the result is {LIMIT + 2:,} bytes of JSON; the limit is {LIMIT:,} (BATCH_MAX_RESULT_BYTES). "
        "Write large output to Blob Storage and return where it is, or raise the setting"
    )
    results = app.services.results
    assert list(results.blobs.list_names(results.task_prefix("job-1", "big"))) == []


def test_a_reduce_output_over_the_limit_fails_the_job_with_the_reason() -> None:
    # Each task's result is one digit, within a limit of one byte; their sum, 10, is not.
    tasks = [{"id": f"t{i}", "handler": "t.ok", "input": i} for i in range(5)]
    app = MemoryBatch(job(tasks, reduce={"handler": "t.sum"}), settings={"BATCH_MAX_RESULT_BYTES": "1"})
    sim = simulate(app)
    sim.run_with_time()
    output = sim.instances["job-1"].output
    assert output["state"] == "failed" and app.states()["succeeded"] == 5
    reason = output["reason"]
    assert "ResultTooLarge: the reduce output is 2 bytes of JSON; the limit is 1 (BATCH_MAX_RESULT_BYTES)" in reason
    results = app.services.results
    assert list(results.blobs.list_names(results.reduce_name("job-1"))) == []
