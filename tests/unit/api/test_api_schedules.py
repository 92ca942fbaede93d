"""The app-setting schedule: loading its template."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from durable_batch.api.errors import ApiError
from durable_batch.api.schedules import load_template, run_occurrence
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch.schedules import MAX_SCHEDULE_ID, occurrence_job_id
from durable_batch.operations.submit import parse_spec
from examples.handlers import all_handlers

REPO_ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.unit


def write(root: Path, name: str, content: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(content)


def test_a_template_file_relative_to_the_app_root(tmp_path: Path) -> None:
    write(tmp_path, "t/job.json", json.dumps({"id": "nightly", "tasks": []}))
    assert load_template("t/job.json", None, tmp_path)["id"] == "nightly"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "cannot read"),
        ("bad.json", "{", "not valid JSON"),
        ("list.json", "[]", "JSON object"),
        ("noid.json", '{"tasks": []}', "needs an `id`"),
        ("long.json", json.dumps({"id": "x" * (MAX_SCHEDULE_ID + 1)}), "at most"),
        ("../outside.json", "{}", "inside the app's folder"),
    ],
)
def test_unusable_templates_say_what_to_fix(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    root = tmp_path / "app"
    root.mkdir()
    if content is not None:
        write(root, name, content)
    with pytest.raises(ApiError, match="BATCH_SCHEDULE_TEMPLATE") as caught:
        load_template(name, None, root)
    assert message in caught.value.message


def test_a_blob_template_needs_a_store() -> None:
    with pytest.raises(ApiError, match="blob"):
        load_template("blob:templates/x.json", None)


def test_a_relative_path_is_in_the_apps_folder_the_host_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "job.json").write_text(json.dumps({"id": "here", "tasks": []}))
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    monkeypatch.chdir(REPO_ROOT)
    assert load_template("job.json", None)["id"] == "here"


def test_the_shipped_template_is_a_valid_job() -> None:
    template = load_template("examples/templates/billing-nightly.json", None, REPO_ROOT)
    job_id = occurrence_job_id(template["id"], datetime(2026, 11, 7, 2, 0, tzinfo=UTC))
    spec = parse_spec({**template, "id": job_id}, Services(Settings(storage={}), all_handlers), None)
    assert spec.id == "billing-nightly-20261107T020000"
    assert spec.reduce is not None and spec.reduce.handler == "billing.summarize"


class FakeDurable:
    """The Durable client calls of a schedule's create: start, status, terminate."""

    def __init__(self) -> None:
        self.running: dict[str, Any] = {}
        self.terminated: list[str] = []

    async def start_new(self, name: str, instance_id: str, data: Any) -> str:
        self.running[instance_id] = data
        return instance_id

    async def get_status(self, instance_id: str, show_input: bool = False) -> Any:
        status = "Running" if instance_id in self.running else None
        return SimpleNamespace(
            runtime_status=status, custom_status=None, output=None, created_time=None, last_updated_time=None
        )

    async def terminate(self, instance_id: str, reason: str) -> None:
        self.running.pop(instance_id)
        self.terminated.append(instance_id)


def test_the_setting_schedule_is_a_resource_kept_in_step_with_the_settings(tmp_path: Path) -> None:
    services = Services.in_memory(Settings(storage={}, schedule_template="blob:t/nightly.json"), all_handlers)
    client = FakeDurable()
    now = datetime(2030, 1, 1, 2, 0, tzinfo=UTC)
    services.results.write_text("t/nightly.json", json.dumps({"id": "nightly", "tasks": [{"id": "a", "handler": "x"}]}))
    assert asyncio.run(run_occurrence(client, services, "0 0 2 * * *", now)) == "nightly"
    first = services.schedules.get("nightly")
    assert first is not None and first.schedule == "0 0 2 * * *" and first.inline
    (instance_id, data), *others = client.running.items()
    assert not others and data["catchUp"] is True and instance_id.endswith(first.generation)
    # The template, without its id, is the schedule's own copy; a bad handler is the firing's error to report.
    assert json.loads(services.results.read_blob(first.template_blob)) == {"tasks": [{"id": "a", "handler": "x"}]}

    # The same settings at the next occurrence: nothing changes, nothing new starts.
    asyncio.run(run_occurrence(client, services, "0 0 2 * * *", now + timedelta(days=1)))
    assert services.schedules.get("nightly") == first and list(client.running) == [instance_id]

    # Disabled through the API, then the setting changes: the schedule takes it, and stays disabled.
    services.schedules.update("nightly", lambda record: replace(record, enabled=False))
    asyncio.run(run_occurrence(client, services, "0 0 3 * * *", now + timedelta(days=2)))
    changed = services.schedules.get("nightly")
    assert changed is not None and changed.schedule == "0 0 3 * * *" and not changed.enabled
    assert changed.generation != first.generation and client.terminated == [instance_id] and not client.running


def test_settings_that_make_no_schedule_start_nothing() -> None:
    services = Services.in_memory(Settings(storage={}, schedule_template="blob:t/x.json"), all_handlers)
    client = FakeDurable()
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert asyncio.run(run_occurrence(client, services, "0 0 2 * * *", now)) is None  # no such blob
    services.results.write_text("t/x.json", json.dumps({"id": "x", "tasks": []}))
    assert asyncio.run(run_occurrence(client, services, "00:05:00", now)) is None  # not NCRONTAB
    assert services.schedules.list().records == [] and not client.running
