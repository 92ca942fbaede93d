"""`results download`: a job's blobs read through the API's files routes (`results.url` lists
the job's folder), so the CLI needs the app's address and key only, never the storage account's credentials."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from durable_batch.cli.client import CliError, JobApi

RESULT_PARTS = frozenset({"summary.json", "reduce.json", "job.json", "results"})
"""What a job's results are (the README's layout)."""
TASKS = "tasks"
"""The task folders: results too large to keep inline, a command task's output files, and each task's logs."""
LOGS = frozenset({"stdout.txt", "stderr.txt"})
"""A task's logs, in its folder: downloaded with `--all` only (`task logs` shows one task's)."""


class DownloadFailed(CliError):
    """The job's view has no results location to read from."""


def _results(view: Mapping[str, Any]) -> Mapping[str, Any]:
    results = view.get("results")
    if not isinstance(results, Mapping) or not results.get("container") or not results.get("url"):
        raise DownloadFailed(f"job {view.get('id')} has no results location")
    return results


def is_log(relative: PurePosixPath) -> bool:
    """Whether a blob of the job's folder is a task's log (`tasks/{taskId}/stdout.txt`, `stderr.txt`)."""
    return len(relative.parts) == 3 and relative.parts[0] == TASKS and relative.name in LOGS


def wanted(relative: PurePosixPath, everything: bool) -> bool:
    """The results and the tasks' output files always; the tasks' logs with `everything`. The app's own files
    beside them (the task index) are not results."""
    if everything:
        return True
    return relative.parts[0] in RESULT_PARTS or (relative.parts[0] == TASKS and not is_log(relative))


@dataclass
class Downloaded:
    """What a download wrote, and the task logs it left out (without `--all`)."""

    written: list[Path] = field(default_factory=list)
    logs_left: int = 0


def download(api: JobApi, view: Mapping[str, Any], out: Path, *, everything: bool = False) -> Downloaded:
    """Write the job's result blobs and its tasks' output files under `out`, keeping their names below the job's
    prefix (the task logs too with `everything`)."""
    results = _results(view)
    prefix = str(results.get("prefix") or "")
    done = Downloaded()
    for item in api.all_files(str(results["url"])):
        name = str(item.get("name", ""))
        relative = PurePosixPath(name[len(prefix) :])
        if not name.startswith(prefix) or not relative.parts or ".." in relative.parts:
            continue
        if not wanted(relative, everything):
            done.logs_left += is_log(relative)
            continue
        target = out.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(api.download(str(item["url"])))
        done.written.append(target)
    return done
