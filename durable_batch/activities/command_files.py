"""Where a command task's files come from and go to: the results container (`blob`, plain output globs), any
container of the app's storage account (`blob` with a `container`, `autoStorageContainerName`,
`storageContainerUrl`, output destinations),
or an HTTP(S) URL (`httpUrl`, through `durable_batch.activities.http_fetch`).

The spec's form was checked at submit (`durable_batch.batch.file_validation`); what needs the account is checked here,
when the task runs: a container URL must be of this app's account, the Functions host's and task hub's containers are
off limits, and in the results container a job reads and writes only its own folder and blobs outside any job's
folder (`durable_batch.batch.paths.blob_name_problem`). A blob listed under a prefix lands at `filePath/{its name}`, and
a name that would leave the task's folder (`..`, an empty segment) fails the task rather than being renamed.

A job names its own files as `_jobs/{jobId}/tasks/...`, or as `{jobId}/tasks/...`, the spelling of the layout
before `_jobs/` (`ResultStore.own_blob_name`): both read its own folder, whichever layout it has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from durable_batch.activities.command_runner import CommandTaskError, Download, Upload
from durable_batch.activities.http_fetch import FetchError, fetch_to_file, shown_url
from durable_batch.batch.file_validation import reserved_container_problem
from durable_batch.batch.paths import blob_name_problem, relative_path_problem
from durable_batch.batch.spec import OutputFile, ResourceFile, TaskSpec, UploadCondition
from durable_batch.storage.results import ResultStore

__all__ = ["MAX_PREFIX_BLOBS", "AccountFiles", "TaskFiles", "plan_files"]

MAX_PREFIX_BLOBS = 10_000
"""The most blobs one container resource file downloads: a prefix that names more is a mistake worth saying."""
_WILDCARDS = frozenset("*?[")


class AccountFiles(Protocol):
    """The part of `durable_batch.storage.sources.SourceBlobs` that moves a command task's files."""

    def container_of(self, url: str) -> str | None: ...

    def names(self, container: str, prefix: str) -> Iterator[tuple[str, str]]: ...

    def download_to_file(self, container: str, blob: str, path: Path) -> int: ...

    def upload_file(self, container: str, blob: str, path: Path) -> str: ...


@dataclass
class TaskFiles:
    """A task's files as the runner takes them (see `command_runner.CommandTask`)."""

    resource_files: list[tuple[str, str]] = field(default_factory=list)
    downloads: list[Download] = field(default_factory=list)
    output_files: list[str] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)


def plan_files(task: TaskSpec, job_id: str, results: ResultStore, account: Callable[[], AccountFiles]) -> TaskFiles:
    """The task's files; lists the blobs of container sources. `account` is called only when a file needs it.
    Raises `CommandTaskError` (or `NotFound`) for a file that cannot be had: the task fails before it runs."""
    files = TaskFiles()
    for resource in task.resource_files:
        named = resource.container
        if (
            resource.blob is not None
            and resource.path is not None
            and named is not None
            and named != results.container_name
        ):
            files.downloads.append(_named_blob(resource, named or "", job_id, results, account))
        elif resource.blob is not None and resource.path is not None:
            problem = blob_name_problem(resource.blob, job_id)
            if problem is not None:
                raise CommandTaskError(f"resource file blob {resource.blob!r} {problem}")
            files.resource_files.append((results.own_blob_name(job_id, resource.blob), resource.path))
        else:
            files.downloads.extend(_downloads(resource, job_id, results, account))
    for output in task.output_files:
        if output.is_plain:
            files.output_files.append(output.file_pattern)
        else:
            files.uploads.append(_upload(output, task.id, job_id, results, account))
    return files


def _mode(resource: ResourceFile) -> int | None:
    return None if resource.file_mode is None else int(resource.file_mode, 8)


def _container(
    name: str | None, url: str | None, job_id: str, results: ResultStore, account: AccountFiles, *, writing: bool
) -> tuple[str, Callable[[str], str | None]]:
    """The container a source or destination names, and the rule its blob names are held to. In the results
    container a task reads its own job's folder too, but writes none of the app's names, its own job's
    `job.json`, summary and results included (its own outputs go to its folder without a `containerUrl`)."""
    if name is None:
        assert url is not None
        name = account.container_of(url)
        if name is None:
            raise CommandTaskError(
                f"{shown_url(url)} is not a container of this app's storage account: files come from and go to "
                "the app's own account"
            )
    problem = reserved_container_problem(name)
    if problem is not None:
        raise CommandTaskError(problem)
    if name == results.container_name:
        own = None if writing else job_id
        return name, lambda blob: blob_name_problem(blob, own)
    return name, lambda _blob: None


def _named_blob(
    resource: ResourceFile, container: str, job_id: str, results: ResultStore, account: Callable[[], AccountFiles]
) -> Download:
    """A `blob` of the container the resource file names, other than the results container."""
    blob, path = resource.blob or "", resource.path or ""
    files = account()
    container, _rule = _container(container, None, job_id, results, files, writing=False)
    return Download(path, lambda target: files.download_to_file(container, blob, target), _mode(resource))


def _downloads(
    resource: ResourceFile, job_id: str, results: ResultStore, account: Callable[[], AccountFiles]
) -> list[Download]:
    mode = _mode(resource)
    if resource.http_url is not None:
        url, target = resource.http_url, resource.file_path or ""

        def fetch(path: Path) -> None:
            try:
                fetch_to_file(url, path)
            except FetchError as exc:
                raise CommandTaskError(str(exc)) from exc

        return [Download(target, fetch, mode)]
    files = account()
    container, rule = _container(
        resource.auto_storage_container_name, resource.storage_container_url, job_id, results, files, writing=False
    )
    prefix = resource.blob_prefix or ""
    listed = prefix
    if container == results.container_name and prefix:
        problem = rule(prefix.rstrip("/") or prefix)
        if problem is not None:
            raise CommandTaskError(f"blob prefix {prefix!r} of container {container!r} {problem}")
        listed = results.own_blob_name(job_id, prefix)
    downloads: list[Download] = []
    for blob, _etag in files.names(container, listed):
        if len(downloads) == MAX_PREFIX_BLOBS:
            raise CommandTaskError(
                f"more than {MAX_PREFIX_BLOBS:,} blobs in container {container!r} start with {prefix!r}: name a "
                "narrower blobPrefix"
            )
        problem = rule(blob)
        if problem is not None:
            raise CommandTaskError(f"blob {blob!r} of container {container!r} {problem}")
        # A blob of the job's own folder named by the old spelling keeps that spelling in the task's folder.
        local = prefix + blob[len(listed) :]
        target = f"{resource.file_path}/{local}" if resource.file_path else local
        problem = relative_path_problem(target)
        if problem is not None:
            raise CommandTaskError(
                f"blob {blob!r} of container {container!r} cannot be a file in the task's folder: {target!r} {problem}"
            )
        downloads.append(Download(target, _blob_fetcher(files, container, blob), mode))
    if not downloads:
        what = f"starts with {prefix!r}" if prefix else "is there"
        raise CommandTaskError(f"no blob in container {container!r} {what}: nothing to download")
    return downloads


def _blob_fetcher(files: AccountFiles, container: str, blob: str) -> Callable[[Path], int]:
    return lambda path: files.download_to_file(container, blob, path)


_CONDITIONS: dict[UploadCondition, Callable[[bool], bool]] = {
    UploadCondition.TASK_SUCCESS: lambda succeeded: succeeded,
    UploadCondition.TASK_FAILURE: lambda succeeded: not succeeded,
    UploadCondition.TASK_COMPLETION: lambda _succeeded: True,
}


def _upload(
    output: OutputFile, task_id: str, job_id: str, results: ResultStore, account: Callable[[], AccountFiles]
) -> Upload:
    when = _CONDITIONS[output.upload_condition]
    if output.container_url is None:
        prefix = f"{results.task_prefix(job_id, task_id)}outputs/"

        def to_outputs(path: Path, relative: str) -> str:
            return results.upload_file(f"{prefix}{relative}", path)

        return Upload(output.file_pattern, when, to_outputs)
    files = account()
    container, rule = _container(None, output.container_url, job_id, results, files, writing=True)
    single = not (_WILDCARDS & set(output.file_pattern))
    base = output.path

    def to_container(path: Path, relative: str) -> str:
        # Azure Batch's rule: a pattern without wildcards names one file and `path` is its blob's name; with
        # wildcards, `path` is the folder the matched files' paths go under.
        blob = base if single and base else (f"{base}/{relative}" if base else relative)
        problem = rule(blob)
        if problem is not None:
            raise CommandTaskError(f"cannot upload {relative!r} as blob {blob!r} of container {container!r}: {problem}")
        return files.upload_file(container, blob, path)

    return Upload(output.file_pattern, when, to_container)
