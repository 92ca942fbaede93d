"""Fixtures for the activities on their stores: on a real Azurite (the session's, from tests/azurite_fixture.py)
and, for `services`, in memory too, so the activities keep one behaviour on both."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import Azurite
from durable_batch.activities.specs import SpecCache
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch.handlers import TaskContext, TaskHandlers
from durable_batch.batch.spec import JobSpec
from durable_batch.storage.jobs import JobRecord, JobState

BIG = "x" * 5000


def make_handlers() -> TaskHandlers:
    handlers = TaskHandlers()

    @handlers.task("e2e.square")
    def square(value: dict[str, Any], ctx: TaskContext) -> Any:
        n = int(value["n"])
        if value.get("big"):
            return {"n": n, "square": n * n, "padding": BIG}
        if value.get("fail"):
            raise ValueError(f"task {ctx.task_id} refuses {n}")
        return {"n": n, "square": n * n}

    @handlers.task("e2e.total")
    def total(results: Any) -> dict[str, Any]:
        squares = [value["square"] for _task, value in results]
        return {"count": len(results), "sum": sum(squares), "order": [v for v in squares[:5]], "input": results.input}

    return handlers


def make_services(azurite: Azurite, work_dir: Path, *, commands: bool = False) -> Services:
    environ = {
        "AzureWebJobsStorage": azurite.connection_string,
        "BATCH_ALLOW_COMMAND_TASKS": "true" if commands else "false",
        "BATCH_WORK_DIR": str(work_dir),
        "BATCH_COMMAND_USER": "@worker",  # the tests' own Python, in pytest's folders (see tests/e2e/batch_host.py)
    }
    return Services(Settings.from_environ(environ), make_handlers())


@pytest.fixture(params=["memory", "azure"])
def services(request: pytest.FixtureRequest, azurite: Azurite, tmp_path: Path) -> Services:
    azure = make_services(azurite, tmp_path / "work")
    return Services.in_memory(azure.settings, azure.handlers) if request.param == "memory" else azure


@pytest.fixture
def command_services(azurite: Azurite, tmp_path: Path) -> Services:
    return make_services(azurite, tmp_path / "work", commands=True)


@pytest.fixture
def specs(services: Services) -> SpecCache:
    return SpecCache(services.results.read_job_spec)


@pytest.fixture
def job_id(request: pytest.FixtureRequest) -> str:
    """A job id unique to the test: the emulator is shared by the whole session."""
    stem = re.sub(r"[^A-Za-z0-9-]", "-", request.node.name)[:50].strip("-")
    return f"{stem}-{uuid.uuid4().hex[:8]}"


Submit = Callable[[Services, JobSpec], str]


@pytest.fixture
def submit() -> Submit:
    """Store a job as the API does (its canonical spec, a pending record); returns the spec hash."""

    def store(services: Services, spec: JobSpec) -> str:
        spec_hash = spec.canonical_hash()
        services.results.write_job_spec(spec.id, spec.to_json())
        services.jobs.upsert_job(
            JobRecord(job_id=spec.id, state=JobState.PENDING, created=datetime.now(UTC), spec_hash=spec_hash)
        )
        return spec_hash

    return store
