"""Scheduled jobs: occurrence ids and template loading."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.errors import ApiError
from api.schedules import (
    APP_ROOT,
    MAX_TEMPLATE_ID,
    is_occurrence_of,
    load_template,
    occurrence_job_id,
)
from api.submit import parse_spec
from app.services import Services
from app.settings import Settings
from batch.spec import ID_PATTERN
from examples.handlers import all_handlers

pytestmark = pytest.mark.unit


def test_occurrence_id_is_floored_to_the_minute_in_utc() -> None:
    moment = datetime(2026, 11, 7, 2, 0, 59, 999_000, tzinfo=UTC)
    assert occurrence_job_id("billing-nightly", moment) == "billing-nightly-20261107T0200"
    assert occurrence_job_id("billing-nightly", moment.replace(second=0)) == "billing-nightly-20261107T0200"
    assert is_occurrence_of("billing-nightly-20261107T0200", "billing-nightly")
    assert not is_occurrence_of("billing-nightly-x-20261107T0200", "billing-nightly")
    assert not is_occurrence_of("billing-20261107T0200", "billing-nightly")


def test_the_longest_template_id_still_makes_a_valid_job_id() -> None:
    job_id = occurrence_job_id("t" * MAX_TEMPLATE_ID, datetime.now(UTC))
    assert len(job_id) == 128 and ID_PATTERN.fullmatch(job_id)


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
        ("long.json", json.dumps({"id": "x" * (MAX_TEMPLATE_ID + 1)}), "at most"),
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


def test_the_shipped_template_is_a_valid_job() -> None:
    template = load_template("examples/templates/billing-nightly.json", None, APP_ROOT)
    job_id = occurrence_job_id(template["id"], datetime(2026, 11, 7, 2, 0, tzinfo=UTC))
    spec = parse_spec({**template, "id": job_id}, Services(Settings(storage={}), all_handlers), None)
    assert spec.id == "billing-nightly-20261107T0200"
    assert spec.reduce is not None and spec.reduce.handler == "billing.summarize"
