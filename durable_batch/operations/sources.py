"""Resolving a job's task factory at submit: read its source once, check every task, pin what was read.

- `jsonLines`: the blob is streamed (never held whole); each line is checked as an inline task, with
  problems reported at `line N`; the byte offset of every `BLOCK`-th task line is kept, so a batch later reads
  just its block, pinned to the ETag the blob had.
- `taskPerFile`: the blobs under the prefix are listed; their names become a JSON Lines list in the job's
  folder (`_jobs/{jobId}/source/files.jsonl`, written once the job is created), read the same way, each block
  checked against the digest of what was written (`blockDigests`): the list is the app's, and a list that is not
  the one written is never read as the job's tasks.
- `parametricSweep`: nothing to read (its count is known from its parameter sets).

The result is the factory with its `resolved` part, which the spec's hash covers: the same job submitted
again over the same content is the same job, over changed content another one (409 under the same id).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

from durable_batch.app.services import Services
from durable_batch.batch.checks import id_problem
from durable_batch.batch.errors import Problem, SpecError
from durable_batch.batch.factories import BLOCK, MAX_FACTORY_TASKS, file_values, substitute
from durable_batch.batch.spec import JobSpec, factory_tasks
from durable_batch.batch.validation import MAX_REPORTED_PROBLEMS, lines_validator
from durable_batch.lib.azure_storage.errors import NotFound
from durable_batch.operations.errors import refused_spec
from durable_batch.storage.sources import SourceChanged, block_digest

__all__ = ["FILE_LIST", "resolve_factory"]

FILE_LIST = "files.jsonl"
"""In the job's `source/` folder: the names a task-per-file factory found, one JSON string a line."""

Write = Callable[[], None]


def _refuse(path: str, message: str) -> SpecError:
    return SpecError([Problem(path, message)])


def _json_lines(services: Services, spec: JobSpec, factory: dict[str, Any]) -> dict[str, Any]:
    container, blob = factory["container"], factory["blob"]
    try:
        stream = services.sources.lines(container, blob)
    except NotFound as exc:
        raise _refuse("taskFactory.blob", f"{exc}: upload the task list first") from exc
    checker = lines_validator(
        known_handlers=services.handlers.keys(),
        allow_command_tasks=services.settings.allow_command_tasks,
        job_id=spec.id,
    )
    try:
        for start, lines in stream.runs:
            checker.add_run(start, lines)
    except SourceChanged as exc:
        raise _refuse("taskFactory.blob", f"{exc}: submit the job once the source is written") from exc
    checker.finish()
    count, offsets = checker.count, checker.offsets
    if count == 0:
        raise _refuse("taskFactory.blob", f"{container}/{blob} holds no tasks (no line that is not blank)")
    resolved: dict[str, Any] = {
        **factory,
        "resolved": {
            "count": count,
            "digest": stream.digest,
            "source": {"container": container, "blob": blob, "etag": stream.etag},
            "offsets": offsets,
            "size": stream.size,
            # Only a source whose tasks depend on each other is planned by its dependencies (reading it whole).
            "dependencies": checker.has_dependencies,
        },
    }
    handlers = checker.plain_handlers
    if handlers is not None:
        # Every line a plain task: its partitions are planned without reading it (`durable_batch.batch.plain_tasks`).
        resolved["resolved"]["plainHandlers"] = handlers
    return resolved


class FileTaskIds:
    """Checks the id each blob's task gets (a name can make an id that is not valid, or one another has)."""

    def __init__(self, factory: dict[str, Any], url: str) -> None:
        self.template = (factory.get("repeatTask") or {}).get("id")
        self.container = factory["container"]
        self.url = url
        self.seen: dict[str, str] = {}
        self.problems: list[Problem] = []

    def check(self, index: int, name: str) -> None:
        if not isinstance(self.template, str):
            return  # ids are the indexes
        values = {**file_values(self.container, name, f"{self.url}/{name}"), "index": index}
        task_id = substitute(self.template, values)
        if len(self.problems) >= MAX_REPORTED_PROBLEMS:
            return
        problem = id_problem(task_id)
        if problem is not None:
            self.problems.append(Problem("taskFactory.repeatTask.id", f"blob {name!r}: {problem}"))
        elif task_id in self.seen:
            self.problems.append(
                Problem(
                    "taskFactory.repeatTask.id",
                    f"blobs {self.seen[task_id]!r} and {name!r} both make the task id {task_id!r}",
                )
            )
        else:
            self.seen[task_id] = name

    def finish(self) -> None:
        if self.problems:
            raise SpecError(self.problems)


def _per_file(services: Services, spec: JobSpec, factory: dict[str, Any]) -> tuple[dict[str, Any], Write]:
    container, prefix = factory["container"], factory["prefix"]
    blobs, results = services.sources, services.results
    digest = hashlib.sha256()
    text: list[str] = []
    size = 0
    offsets: list[int] = []
    blocks: list[hashlib._Hash] = []
    ids = FileTaskIds(factory, blobs.url(container))
    try:
        for count, (name, etag) in enumerate(blobs.names(container, prefix)):
            ids.check(count, name)
            if count >= MAX_FACTORY_TASKS:
                raise _refuse("taskFactory.prefix", f"more than {MAX_FACTORY_TASKS:,} blobs are under the prefix")
            if count % BLOCK == 0:
                offsets.append(size)
                blocks.append(hashlib.sha256())
            line = json.dumps(name, ensure_ascii=False) + "\n"
            digest.update(f"{name}\n{etag}\n".encode())
            text.append(line)
            blocks[-1].update(line.encode())
            size += len(line.encode())
    except NotFound as exc:
        raise _refuse("taskFactory.container", str(exc)) from exc
    if not text:
        raise _refuse("taskFactory.prefix", f"no blob in container {container!r} starts with {prefix!r}")
    ids.finish()
    listing = results.source_name(spec.id, FILE_LIST)
    resolved = {
        "count": len(text),
        "digest": digest.hexdigest(),
        "source": {"container": results.container_name, "blob": listing, "etag": None},
        "offsets": offsets,
        "blockDigests": [block_digest(block) for block in blocks],
        "size": size,
        "url": blobs.url(container),
    }

    def write() -> None:
        results.write_text(listing, "".join(text))

    return {**factory, "resolved": resolved}, write


def resolve_factory(spec: JobSpec, services: Services) -> tuple[JobSpec, list[Write]]:
    """The spec with its factory resolved (reading its source), and the writes to make once the job's record
    exists; `Invalid` for a source that is missing or holds a bad task. Inline jobs pass unchanged."""
    factory = spec.factory
    if factory is None or "resolved" in factory:
        return spec, []
    writes: list[Write] = []
    try:
        if factory["type"] == "jsonLines":
            resolved = _json_lines(services, spec, dict(factory))
        else:
            resolved, write = _per_file(services, spec, dict(factory))
            writes.append(write)
    except SpecError as exc:
        raise refused_spec(exc) from exc
    tasks = factory_tasks(resolved, services.sources.block_reader(resolved))
    return dataclasses.replace(spec, factory=resolved, tasks=tasks), writes
