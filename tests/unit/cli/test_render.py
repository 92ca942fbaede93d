"""The CLI's output without a host: error lines, progress figures, the live view and tables."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from rich.console import Console, RenderableType

from durable_batch.batch.cost import Cost
from durable_batch.cli.client import ApiError, ErrorDetail, JobApi
from durable_batch.cli.common import PIPED_WIDTH
from durable_batch.cli.render import (
    Progress,
    error_lines,
    format_duration,
    job_table,
    jobs_table,
    latest_failures,
    progress_between,
    task_duration,
    task_table,
    tasks_table,
    watch_view,
)

pytestmark = pytest.mark.unit


def text_of(renderable: RenderableType) -> str:
    console = Console(width=120, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_an_api_error_prints_its_code_message_and_every_detail_path() -> None:
    error = ApiError(400, "invalidJobSpec", "2 problems", [ErrorDetail("tasks[0].id", "empty"), ErrorDetail("", "x")])
    assert error_lines(error) == ["invalidJobSpec: 2 problems", "  tasks[0].id: empty", "  x"]


def test_progress_is_the_rate_between_two_samples_and_the_eta_what_is_left_at_that_rate() -> None:
    progress = progress_between((10.0, 100), (20.0, 300), total=1300)
    assert progress.rate == 20.0 and progress.eta_seconds == 50.0
    assert progress_between((10.0, 0), (10.0, 0), total=5).eta_seconds is None
    assert Progress(done=0, total=5, rate=0.0).eta_seconds is None


def test_the_live_view_shows_the_state_counts_rate_and_eta() -> None:
    view = {
        "id": "j1",
        "state": "running",
        "taskCounts": {"total": 10, "pending": 4, "running": 2, "succeeded": 3, "failed": 1, "skipped": 0},
    }
    text = text_of(watch_view(view, Progress(done=4, total=10, rate=2.0)))
    assert "j1  running" in text and "4/10 40%" in text and "2.0 tasks/s" in text and "ETA 0:03" in text
    assert "pending=4  running=2  succeeded=3  failed=1  skipped=0" in text


def test_the_live_view_says_the_phase_that_explains_a_full_or_empty_bar() -> None:
    counts = {"total": 10, "succeeded": 10}
    reducing = text_of(
        watch_view({"id": "j1", "state": "running", "phase": "reducing", "taskCounts": counts}, Progress(10, 10, None))
    )
    assert "j1  running (reducing)" in reducing and "10/10 100%" in reducing
    done = text_of(
        watch_view(
            {"id": "j1", "state": "succeeded", "phase": "finished", "taskCounts": counts}, Progress(10, 10, None)
        )
    )
    assert "(finished)" not in done and "j1  succeeded" in done


def test_the_live_view_lists_the_failures_that_ended_last_with_their_errors_first_line() -> None:
    page = {
        "value": [
            {"id": "a", "endedAt": "2026-12-01T10:00:01Z", "error": "ValueError: a\nTraceback ..."},
            {"id": "b", "endedAt": "2026-12-01T10:00:04Z", "error": "KeyError: b"},
            {"id": "c", "endedAt": "2026-12-01T10:00:03Z", "error": "OSError: c"},
            {"id": "d", "endedAt": "2026-12-01T10:00:02Z", "error": "TypeError: d"},
        ]
    }
    latest = latest_failures(page)
    assert [task["id"] for task in latest] == ["b", "c", "d"]
    view = {"id": "j1", "state": "running", "taskCounts": {"total": 9, "failed": 4}}
    text = text_of(watch_view(view, Progress(4, 9, None), failures=latest_failures(page, 4)))
    assert "failed b: KeyError: b" in text and "failed a: ValueError: a" in text and "Traceback" not in text
    assert text.index("failed b") < text.index("failed c") < text.index("failed d") < text.index("failed a")


def test_the_jobs_table_has_a_row_per_job_with_its_progress() -> None:
    page = {"value": [{"id": "a", "state": "failed", "taskCounts": {"total": 3, "succeeded": 1, "failed": 2}}]}
    row = [line for line in text_of(jobs_table(page)).splitlines() if " a " in line]
    assert len(row) == 1 and "failed" in row[0] and "3/3" in row[0]


def test_a_function_key_goes_in_the_x_functions_key_header_of_every_request() -> None:
    sent: list[requests.PreparedRequest] = []

    class Recorder(requests.adapters.BaseAdapter):
        def send(self, request: requests.PreparedRequest, *args: object, **kwargs: object) -> requests.Response:
            sent.append(request)
            response = requests.Response()
            response.status_code, response._content = 200, b'{"value": []}'
            return response

        def close(self) -> None:
            pass

    api = JobApi("https://app.example/", key="secret")
    api.session.mount("https://", Recorder())
    assert api.jobs(state="running") == {"value": []}
    assert sent[0].url == "https://app.example/api/jobs?state=running"
    assert sent[0].headers["x-functions-key"] == "secret"


def rows_of(text: str) -> dict[str, str]:
    """A two-column grid's text as {first cell: second cell}."""
    return {line.split(None, 1)[0]: line.split(None, 1)[1].strip() for line in text.splitlines() if line.strip()}


def test_a_result_too_large_for_the_task_view_shows_as_its_size_and_link() -> None:
    url = "http://127.0.0.1:7071/api/files/batch-results/j/tasks/t/result.json"
    view: dict[str, Any] = {"id": "t", "state": "succeeded", "result": None, "resultBlob": "j/tasks/t/result.json"}
    view.update({"resultSize": 3_145_730, "resultUrl": url, "resultOmitted": True, "resultError": None})
    rows = rows_of(text_of(task_table(view)))
    assert rows["resultSize"] == "3,145,730 bytes"
    assert rows["resultUrl"] == url
    assert rows["result"] == "(too large to show here: download it from resultUrl)"
    small = rows_of(text_of(task_table({**view, "result": 17, "resultSize": 2, "resultOmitted": False})))
    assert small["result"] == "17" and small["resultSize"] == "2 bytes"


def test_a_jobs_cost_shows_its_durable_work_and_the_kinds_of_storage_it_used() -> None:
    cost = Cost(3, 17, 69, 373, 10, 2, {"tableReads": 16, "blobWrites": 4}).to_json()
    shown = text_of(job_table({"id": "j", "state": "succeeded", "taskCounts": {"total": 5}, "cost": cost}))
    line = next(line for line in shown.splitlines() if line.startswith("cost"))
    assert line.split()[1:] == [
        "orchestrations=3",
        "episodes=17",
        "historyEvents=69",
        "replayedEvents=373",
        "activityCalls=10",
        "timers=2",
    ]
    assert "storageRequests=20 (blobWrites=4  tableReads=16)" in shown
    assert "blobReads" not in shown  # a kind the job did not use
    assert "cost" not in text_of(job_table({"id": "j", "state": "pending", "cost": None}))


def test_durations_are_in_milliseconds_below_a_second() -> None:
    assert format_duration(0.0123) == "12 ms" and format_duration(0) == "0 ms"
    assert format_duration(1.349) == "1.35 s" and format_duration(125) == "2:05" and format_duration(3725) == "1:02:05"
    task = {"id": "t", "state": "succeeded", "startedAt": "2026-12-07T10:00:00.250+00:00"}
    assert task_duration(task) == "", "not ended yet"
    ended = {**task, "endedAt": "2026-12-07T10:00:00.262+00:00"}
    assert task_duration(ended) == "12 ms"
    row = text_of(tasks_table({"value": [ended]}))
    assert "12 ms" in row
    assert "duration   12 ms" in text_of(task_table(ended))


def test_a_jobs_reduce_output_is_in_its_table() -> None:
    shown = text_of(job_table({"id": "j", "state": "succeeded", "reduce": {"invoices": 3, "totalCents": 120}}))
    assert "reduce" in shown and '"invoices": 3' in shown and '"totalCents": 120' in shown
    assert "reduce" not in text_of(job_table({"id": "j", "state": "running"}))


def test_piped_tables_keep_long_ids_whole() -> None:
    long_id = "billing-2026-11-customer-000001-with-a-very-long-suffix-" + "x" * 60
    console = Console(width=PIPED_WIDTH, record=True, color_system=None)
    console.print(tasks_table({"value": [{"id": long_id, "state": "failed", "error": "boom"}]}))
    assert long_id in console.export_text()
