"""Running a command task from a job: files through the results container, logs kept, cancel by job record.

Security: a command task runs any program the job names. That is why the app runs them only when
`BATCH_ALLOW_COMMAND_TASKS` is `true`; this module checks the setting again, so a job that got in some other way
still cannot run one. Its environment is the worker's less anything that looks like a credential (the storage
connection string, keys, tokens, managed identity endpoints: see `durable_batch/activities/command_env.py`), but run as
the worker's user a command can still read the worker's own environment from /proc and every file the worker can;
`BATCH_COMMAND_USER` (a separate, unprivileged OS user) is what keeps it out of them.

Cancellation: while the command runs, its wait reads the job record every `poll_seconds` (about a second; the
first read one poll after the start, so a short command costs none) and stops the command when the job is
`cancelling`, has ended, or was replaced by a re-submitted job of the same id. The run's own thread reads it,
between looks at the command: a thread per command to watch was a large share of a short command's cost. A
handler task can't be stopped that way (see `handler_tasks`); a process can.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from durable_batch.activities.command_files import AccountFiles, plan_files
from durable_batch.activities.command_runner import CommandResult, CommandTask, CommandTaskError, run_command
from durable_batch.activities.command_users import UidLease, UidsExhausted, lease_uid
from durable_batch.activities.outcomes import PlacedResult, place_result
from durable_batch.activities.task_logs import replaces_earlier
from durable_batch.app.settings import CommandUids, CommandUser
from durable_batch.batch.job_stop import should_stop
from durable_batch.batch.spec import ExitOptions, JobSpec, TaskSpec
from durable_batch.lib.azure_storage.errors import NotFound, StorageError
from durable_batch.storage.jobs import JobRecord
from durable_batch.storage.results import ResultStore

__all__ = [
    "CANCEL_POLL_SECONDS",
    "CancelPoll",
    "CommandRun",
    "ResultsTransfer",
    "command_error",
    "default_work_root",
    "exit_options",
    "run_command_task",
]

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 1.0
STDERR_IN_ERROR = 500
"""Characters of stderr's end quoted in the error of a failed command: usually the line that says why."""


class JobReader(Protocol):
    def get_job(self, job_id: str) -> JobRecord | None: ...


class ResultsTransfer:
    """`command_runner.BlobTransfer` over the results container: blob names are names in that container."""

    def __init__(self, results: ResultStore) -> None:
        self._results = results

    def download_to_file(self, blob_name: str, path: Path) -> None:
        self._results.download_to_file(blob_name, path)

    def upload_file(self, path: Path, blob_name: str) -> None:
        self._results.upload_file(blob_name, path)


class CancelPoll:
    """Whether the job asks its commands to stop (`should_stop`), read from its record at most once a poll, when
    asked: `is_set` is what `run_command` checks between looks at the command, as it would a `threading.Event`.
    A failed read does not stop the command; the next poll reads again."""

    def __init__(
        self,
        jobs: JobReader,
        job_id: str,
        spec_hash: str,
        poll_seconds: float = CANCEL_POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jobs = jobs
        self._job_id = job_id
        self._spec_hash = spec_hash
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._next = clock() + poll_seconds
        self._stop = False

    def is_set(self) -> bool:
        if self._stop or self._clock() < self._next:
            return self._stop
        self._next = self._clock() + self._poll_seconds
        try:
            record = self._jobs.get_job(self._job_id)
        except StorageError as exc:
            logger.warning("could not read the record of job %s to watch for a cancel: %s", self._job_id, exc)
            return False
        self._stop = should_stop(record, self._spec_hash)
        return self._stop


def default_work_root(configured: Path | None) -> Path:
    """`BATCH_WORK_DIR`, else `durable-batch` in the system's temporary folder."""
    return configured if configured is not None else Path(tempfile.gettempdir()) / "durable-batch"


def command_error(result: CommandResult) -> str | None:
    """Why a run failed, in one line or two (None when it succeeded)."""
    if result.succeeded:
        return None
    if result.error:
        return result.error
    code = result.exit_code
    text = f"the command was killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    tail = result.stderr_tail.strip()[-STDERR_IN_ERROR:]
    return f"{text}; stderr ends with: {tail}" if tail else text


@dataclass(frozen=True)
class CommandRun:
    """A command task's attempt, as its `TaskOutcome` reports it (without the times)."""

    ok: bool
    placed: PlacedResult | None = None
    """The `{exitCode, stdoutBlob, stderrBlob, outputFiles}` summary, when the attempt got that far."""
    error: str | None = None
    timed_out: bool = False
    cancelled: bool = False
    options: ExitOptions | None = None
    """The task's exit condition for how the attempt ended (None: the defaults)."""


_NOT_RETRIED = ExitOptions(retry=False)


def _not_started(task: TaskSpec, error: str) -> CommandRun:
    """A command that could not start: a resource file missing, say (Azure Batch's pre-processing error)."""
    options = task.exit_conditions.pre_processing_error if task.exit_conditions is not None else None
    return CommandRun(ok=False, error=error, options=options)


def exit_options(task: TaskSpec, result: CommandResult) -> ExitOptions | None:
    """The exit condition that applies to a finished run: by exit code, or the pre-processing one for a
    command that never started. A cancelled run has none: its job is stopping anyway."""
    conditions = task.exit_conditions
    if conditions is None or result.cancelled:
        return None
    if result.exit_code is None:
        return conditions.pre_processing_error
    return conditions.for_exit_code(result.exit_code)


def _no_account() -> AccountFiles:
    raise CommandTaskError("this worker has no access to the storage account's other containers")


@contextlib.contextmanager
def _identity(command_user: CommandUser | CommandUids | None, work_root: Path) -> Iterator[UidLease]:
    """The user a command runs as: the setting's, or a uid of its own from the setting's range."""
    if isinstance(command_user, CommandUids):
        with lease_uid(command_user, work_root) as lease:
            yield lease
    else:
        yield UidLease(command_user)


def run_command_task(
    results: ResultStore,
    jobs: JobReader,
    spec: JobSpec,
    spec_hash: str,
    task: TaskSpec,
    *,
    work_root: Path,
    poll_seconds: float = CANCEL_POLL_SECONDS,
    command_user: CommandUser | CommandUids | None = None,
    account: Callable[[], AccountFiles] | None = None,
    max_output_bytes: int | None = None,
    attempt: int = 1,
) -> CommandRun:
    """Run attempt `attempt` of a command task; see the module. Storage outages raise; the task's failures
    return. Output files that sum to more than `max_output_bytes` fail the attempt, not retried (they would
    again)."""
    if task.command_line is None:
        raise ValueError(f"task {task.id!r} is not a command task")
    job_id = spec.id
    try:
        files = plan_files(task, job_id, results, account or _no_account)
    except CommandTaskError as exc:
        return _not_started(task, f"CommandTaskError: {exc}")
    except NotFound as exc:
        return _not_started(task, f"NotFound: {exc}")
    command = CommandTask(
        task_id=task.id,
        command_line=task.command_line,
        resource_files=files.resource_files,
        output_files=files.output_files,
        environment=task.environment,
        timeout_seconds=spec.timeout_for(task),
        downloads=files.downloads,
        uploads=files.uploads,
    )
    output_prefix = f"{results.task_prefix(job_id, task.id)}outputs/"
    try:
        with _identity(command_user, work_root) as lease:
            result = run_command(
                command,
                work_root=work_root,
                transfer=ResultsTransfer(results),
                output_prefix=output_prefix,
                cancel=CancelPoll(jobs, job_id, spec_hash, poll_seconds),
                user=lease.user,
                max_output_bytes=max_output_bytes,
            )
            if result.ended_whole:
                lease.ended_whole()
    except UidsExhausted as exc:
        return _not_started(task, f"UidsExhausted: {exc}")
    except CommandTaskError as exc:
        return _not_started(task, f"CommandTaskError: {exc}")
    except NotFound as exc:
        # A resource file that isn't there is the job's problem, not an outage.
        return _not_started(task, f"NotFound: {exc}")
    stdout_blob = stderr_blob = None
    # A quiet first attempt writes no logs: two blob writes for nothing were a large share of a short command.
    if result.exit_code is not None and (result.stdout_tail or result.stderr_tail or replaces_earlier(attempt)):
        stdout_blob = results.write_task_blob(job_id, task.id, "stdout.txt", result.stdout_tail)
        stderr_blob = results.write_task_blob(job_id, task.id, "stderr.txt", result.stderr_tail)
    summary = {
        "exitCode": result.exit_code,
        "stdoutBlob": stdout_blob,
        "stderrBlob": stderr_blob,
        "outputFiles": result.output_files,
    }
    return CommandRun(
        ok=result.succeeded,
        placed=place_result(results, job_id, task.id, summary),
        error=command_error(result),
        timed_out=result.timed_out,
        cancelled=result.cancelled,
        options=_NOT_RETRIED if result.outputs_too_large else exit_options(task, result),
    )
