"""`results download`: copy a job's folder from Blob Storage, read with the account's connection string.

The API's `results.url` is the container's plain URL, which answers 403 without credentials, so the CLI reads
the blobs itself with the app's storage connection: `--connection-string`, or the app settings
`AzureWebJobsStorage` (or its identity-based `AzureWebJobsStorage__*` form, signed in with `azure-identity`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from cli.client import CliError
from storage.account import StorageAccount, StorageConnection
from storage.errors import StorageError

RESULT_PARTS = frozenset({"summary.json", "reduce.json", "job.json", "results"})
"""What a job's results are (the README's layout); task folders (logs, outputs) come with `--all`."""


class DownloadFailed(CliError):
    """The job's blobs could not be read: no connection string, a wrong one, or storage is down."""


@contextlib.contextmanager
def _container(connection: StorageConnection, name: str) -> Iterator[ContainerClient]:
    """A client for an existing container (never created here: a missing one is the user's to hear of), and
    its account's connection pool and credential closed after."""
    try:
        account = StorageAccount(connection)
    except StorageError as exc:
        raise DownloadFailed(str(exc)) from exc
    try:
        yield account.blob_service.get_container_client(name)
    finally:
        account.close()


def task_logs(view: Mapping[str, Any], task_id: str, connection: StorageConnection) -> dict[str, str | None]:
    """A command task's `stdout.txt` and `stderr.txt` (their tails, as the runner keeps them); None when absent."""
    results = view.get("results")
    if not isinstance(results, Mapping) or not results.get("container"):
        raise DownloadFailed(f"job {view.get('id')} has no results location")
    folder = f"{results.get('prefix') or ''}tasks/{task_id}/"
    logs: dict[str, str | None] = {}
    try:
        with _container(connection, str(results["container"])) as container:
            for name in ("stdout.txt", "stderr.txt"):
                try:
                    logs[name] = container.download_blob(folder + name).readall().decode("utf-8", "replace")
                except ResourceNotFoundError:
                    logs[name] = None
    except (AzureError, ValueError) as exc:
        raise DownloadFailed(f"cannot read the task's logs: {exc}") from exc
    return logs


def wanted(relative: PurePosixPath, everything: bool) -> bool:
    return everything or relative.parts[0] in RESULT_PARTS


def download(
    view: Mapping[str, Any], out: Path, connection: StorageConnection, *, everything: bool = False
) -> list[Path]:
    """Write the job's result blobs under `out`, keeping their names below the job's prefix; the files written."""
    results = view.get("results")
    if not isinstance(results, Mapping) or not results.get("container"):
        raise DownloadFailed(f"job {view.get('id')} has no results location")
    prefix = str(results.get("prefix") or "")
    written: list[Path] = []
    try:
        with _container(connection, str(results["container"])) as container:
            for blob in container.list_blobs(name_starts_with=prefix):
                relative = PurePosixPath(blob.name[len(prefix) :])
                if not relative.parts or ".." in relative.parts or not wanted(relative, everything):
                    continue
                target = out.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("wb") as file:
                    container.download_blob(blob.name).readinto(file)
                written.append(target)
    except ResourceNotFoundError as exc:
        raise DownloadFailed(f"container {results['container']} not found in that storage account") from exc
    except (AzureError, ValueError) as exc:
        raise DownloadFailed(f"cannot read the job's blobs: {exc}") from exc
    return written
