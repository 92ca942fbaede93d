"""The app's log records reach Application Insights with the job and task ids as customDimensions: a worker
process configures the export from app settings (`durable_batch.app.monitoring`), logs a task attempt as the batch
runner does, and the records arrive at a local ingestion endpoint in the Application Insights wire format (the
envelope's `properties` are what the `traces` table shows as `customDimensions`)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devhost.testing import REPO_ROOT

pytestmark = pytest.mark.e2e

WORKER = """
import logging, os
from durable_batch.app.monitoring import configure_monitoring
from durable_batch.activities import telemetry
from opentelemetry._logs import get_logger_provider

assert configure_monitoring(os.environ)
logging.getLogger("durable_batch").setLevel(logging.INFO)
telemetry.attempt_ended(job_id="job-x", task_id="t-7", partition=1, batch=3, attempt=2, outcome="failed",
                        final=True, duration_ms=40, kind="handler", error="ValueError: no")
telemetry.job_finished(job_id="job-x", state="failed", task_counts={"total": 9, "failed": 1}, duration_ms=900)
get_logger_provider().force_flush()
"""


class Ingestion:
    """A local Application Insights ingestion endpoint that keeps every telemetry item posted to it."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        ingestion = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path.endswith("/track"):
                    ingestion.items.extend(json.loads(body))
                answer = b'{"itemsReceived": 0, "itemsAccepted": 0, "errors": []}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.fixture
def ingestion() -> Iterator[Ingestion]:
    endpoint = Ingestion()
    try:
        yield endpoint
    finally:
        endpoint.server.shutdown()
        endpoint.server.server_close()


def messages(ingestion: Ingestion) -> dict[str, dict[str, Any]]:
    """Each exported log message's text and its properties."""
    found = {}
    for item in ingestion.items:
        base = item.get("data", {}).get("baseData", {})
        if item.get("data", {}).get("baseType") == "MessageData":
            found[base["message"]] = base.get("properties", {})
    return found


def test_task_and_job_records_arrive_with_their_ids_as_custom_dimensions(ingestion: Ingestion) -> None:
    env = {
        **os.environ,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={ingestion.url}"
        ),
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "PYTHONPATH": str(REPO_ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", WORKER], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    exported = messages(ingestion)
    task = exported["job job-x task t-7 attempt 2 failed in 40 ms: ValueError: no"]
    assert {k: task[k] for k in ("jobId", "taskId", "partition", "batch", "attempt", "outcome", "durationMs")} == {
        "jobId": "job-x",
        "taskId": "t-7",
        "partition": "1",
        "batch": "3",
        "attempt": "2",
        "outcome": "failed",
        "durationMs": "40",
    }
    job = exported["job job-x failed (9 total, 1 failed)"]
    assert (job["jobId"], job["jobState"], job["tasksFailed"], job["durationMs"]) == ("job-x", "failed", "1", "900")


def test_without_the_switch_nothing_is_exported(ingestion: Ingestion) -> None:
    env = {
        **os.environ,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={ingestion.url}"
        ),
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "false",
        "PYTHONPATH": str(REPO_ROOT),
    }
    code = (
        "import os\nfrom durable_batch.app.monitoring import configure_monitoring\n"
        "assert not configure_monitoring(os.environ)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert ingestion.items == []
