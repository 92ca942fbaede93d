"""`results download`: a job's blobs read through the API's files routes (`results.url` lists
the job's folder), so the CLI needs the app's address and key only, never the storage account's credentials."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from durable_batch.cli.client import CliError, JobApi

RESULT_PARTS = frozenset({"summary.json", "reduce.json", "job.json", "results"})
"""What a job's results are (the README's layout); task folders (logs, outputs) come with `--all`."""


class DownloadFailed(CliError):
    """The job's view has no results location to read from."""


def _results(view: Mapping[str, Any]) -> Mapping[str, Any]:
    results = view.get("results")
    if not isinstance(results, Mapping) or not results.get("container") or not results.get("url"):
        raise DownloadFailed(f"job {view.get('id')} has no results location")
    return results


def wanted(relative: PurePosixPath, everything: bool) -> bool:
    return everything or relative.parts[0] in RESULT_PARTS


def download(api: JobApi, view: Mapping[str, Any], out: Path, *, everything: bool = False) -> list[Path]:
    """Write the job's result blobs under `out`, keeping their names below the job's prefix; the files written."""
    results = _results(view)
    prefix = str(results.get("prefix") or "")
    written: list[Path] = []
    for item in api.all_files(str(results["url"])):
        name = str(item.get("name", ""))
        relative = PurePosixPath(name[len(prefix) :])
        if not name.startswith(prefix) or not relative.parts or ".." in relative.parts:
            continue
        if not wanted(relative, everything):
            continue
        target = out.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(api.download(str(item["url"])))
        written.append(target)
    return written
