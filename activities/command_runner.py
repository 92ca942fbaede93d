"""Command tasks, as Azure Batch runs them: a command line in a fresh working folder, with files from blobs.

`run_command` does one run of a `CommandTask`:

1. makes a fresh, uniquely named working folder under `work_root`;
2. downloads each resource file into it (relative paths only; `..` and absolute paths are refused);
3. runs the argv list without a shell, with the folder as its current directory and as
   `BATCH_TASK_WORKING_DIR`, the task id as `BATCH_TASK_ID`, and the task's environment on top of the
   process's own;
4. keeps the last `tail_bytes` of stdout and of stderr (each streams to an unnamed temporary file, so a chatty
   command costs disk, not memory);
5. on the time limit or the cancel event, sends SIGTERM to the command's whole process group (it runs in a
   session of its own), then SIGKILL after a grace period; when the command exits by itself, whatever it
   left running in its group is killed too, so nothing outlives the task or holds its folder;
6. uploads the files matching the output globs to `{output_prefix}{path relative to the folder}` (also when
   the command failed, since its outputs often explain why; not when the run was cancelled);
7. removes the folder.

A command that can't be started (not found, not executable) gives a result with `error` set, not an
exception. Storage failures (a missing resource blob, a failed upload) propagate, so the caller's retry
policy applies. A task whose paths or environment are malformed raises `CommandTaskError` before anything
runs; specs are meant to be validated at the edge with `validate_command_task`.

POSIX only (process groups and signals), as Azure Functions' Python workers run on Linux.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Protocol

from batch.errors import BatchError
from batch.paths import relative_path_problem

__all__ = [
    "BlobTransfer",
    "CommandResult",
    "CommandTask",
    "CommandTaskError",
    "run_command",
    "validate_command_task",
]

logger = logging.getLogger(__name__)

DEFAULT_TAIL_BYTES = 64 * 1024
DEFAULT_KILL_GRACE_SECONDS = 5.0
_POLL_MAX_SECONDS = 0.05


class CommandTaskError(BatchError):
    """A command task is malformed: an empty command line, a path that leaves the working folder, a bad
    environment variable name. Fix the job spec; retrying won't help."""


class BlobTransfer(Protocol):
    """Moves files between the working folder and blob storage; blob names are relative to the caller's
    container (and whatever prefix it applies)."""

    def download_to_file(self, blob_name: str, path: Path) -> None: ...

    def upload_file(self, path: Path, blob_name: str) -> None: ...


@dataclass(frozen=True)
class CommandTask:
    """One command-line task. `resource_files` are `(blob name, relative path)` pairs; `output_files` are
    globs relative to the working folder (`pathlib` syntax: `*`, `?`, `[...]`, and `**` for any depth)."""

    task_id: str
    command_line: Sequence[str]
    resource_files: Sequence[tuple[str, str]] = ()
    output_files: Sequence[str] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float | None = None


@dataclass(frozen=True)
class CommandResult:
    """How a run ended. `exit_code` is None when the command never started, negative when a signal ended it
    (`-9` for SIGKILL). `output_files` are the blob names uploaded. `duration_seconds` is the command's own
    run time, without downloads and uploads. `error` says why the run could not happen or was stopped."""

    exit_code: int | None
    timed_out: bool
    cancelled: bool
    stdout_tail: str
    stderr_tail: str
    output_files: list[str]
    duration_seconds: float
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        """Exit code 0, within the time limit, and not cancelled."""
        return self.exit_code == 0 and not self.timed_out and not self.cancelled


_ENV_NAME = re.compile(r"^[^=\x00]+$")


def validate_command_task(task: CommandTask) -> list[str]:
    """Every problem with the task, each as `field: message`; an empty list when it can run."""
    problems: list[str] = []
    if isinstance(task.command_line, str):
        problems.append("commandLine: must be a list of arguments, not a string (it runs without a shell)")
    elif not task.command_line:
        problems.append("commandLine: must not be empty")
    else:
        for i, arg in enumerate(task.command_line):
            if "\x00" in arg:
                problems.append(f"commandLine[{i}]: contains a NUL character")
    # The job spec's own path rule, again: this runs specs stored before a rule changed, too.
    for i, (blob, path) in enumerate(task.resource_files):
        problem = relative_path_problem(blob)
        if problem:
            problems.append(f"resourceFiles[{i}].blob: {blob!r} {problem}")
        problem = relative_path_problem(path)
        if problem:
            problems.append(f"resourceFiles[{i}].path: {path!r} {problem}")
    for i, pattern in enumerate(task.output_files):
        problem = relative_path_problem(pattern)
        if problem:
            problems.append(f"outputFiles[{i}]: {pattern!r} {problem}")
    for name, value in task.environment.items():
        if not _ENV_NAME.match(name):
            problems.append(f"environment: {name!r} is not a valid variable name")
        elif "\x00" in value:
            problems.append(f"environment.{name}: contains a NUL character")
    if task.timeout_seconds is not None and not task.timeout_seconds > 0:
        problems.append(f"timeoutSeconds: must be more than 0, got {task.timeout_seconds}")
    return problems


# Worker settings a command must not see: the storage account key (AzureWebJobsStorage) and anything else
# that looks like a credential. A job spec is data from an API caller; its commands get only what they need.
_SECRET_MARKERS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "CONNECTION", "STORAGE", "SAS", "CREDENTIAL")


def inherited_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment less its secrets, as a command task inherits it."""
    return {k: v for k, v in environ.items() if not any(marker in k.upper() for marker in _SECRET_MARKERS)}


def run_command(
    task: CommandTask,
    *,
    work_root: Path,
    transfer: BlobTransfer,
    output_prefix: str,
    cancel: threading.Event | None = None,
    tail_bytes: int = DEFAULT_TAIL_BYTES,
    kill_grace_seconds: float = DEFAULT_KILL_GRACE_SECONDS,
) -> CommandResult:
    """Run `task` once in a fresh working folder under `work_root`; see the module docstring."""
    problems = validate_command_task(task)
    if problems:
        raise CommandTaskError(f"command task {task.task_id!r}: " + "; ".join(problems))
    work_root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{_folder_prefix(task.task_id)}-", dir=work_root)).resolve()
    try:
        for blob_name, relative in task.resource_files:
            if cancel is not None and cancel.is_set():
                return _not_run(cancelled=True, error="cancelled before the command started")
            target = _inside(folder, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            transfer.download_to_file(blob_name, target)
        if cancel is not None and cancel.is_set():
            return _not_run(cancelled=True, error="cancelled before the command started")
        result = _execute(task, folder, work_root, cancel, tail_bytes, kill_grace_seconds)
        if result.exit_code is None or result.cancelled:
            return result
        uploaded = _upload_outputs(task.output_files, folder, transfer, output_prefix)
        return replace(result, output_files=uploaded)
    finally:
        _remove_tree(folder)


def _folder_prefix(task_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", task_id)[:64] or "task"


def _inside(folder: Path, relative: str) -> Path:
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder):
        raise CommandTaskError(f"{relative!r} resolves outside the task's working folder")
    return target


def _not_run(*, cancelled: bool, error: str) -> CommandResult:
    return CommandResult(None, False, cancelled, "", "", [], 0.0, error)


def _execute(
    task: CommandTask,
    folder: Path,
    work_root: Path,
    cancel: threading.Event | None,
    tail_bytes: int,
    grace: float,
) -> CommandResult:
    env = {**inherited_environment(os.environ), **task.environment}
    # Set last so that a task can't pass itself off as another.
    env["BATCH_TASK_ID"] = task.task_id
    env["BATCH_TASK_WORKING_DIR"] = str(folder)
    # The logs live beside the folder, not in it, so output globs never pick them up.
    with tempfile.TemporaryFile(dir=work_root) as out, tempfile.TemporaryFile(dir=work_root) as err:
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                list(task.command_line),
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        except FileNotFoundError:
            return _not_run(
                cancelled=False,
                error=f"command not found: {task.command_line[0]!r} (not on PATH, nor in the working folder "
                "when given as ./name)",
            )
        except PermissionError:
            return _not_run(cancelled=False, error=f"command is not executable: {task.command_line[0]!r}")
        except OSError as exc:
            return _not_run(cancelled=False, error=f"command could not start: {exc}")
        deadline = started + task.timeout_seconds if task.timeout_seconds is not None else None
        outcome = _wait(proc, deadline, cancel)
        error: str | None = None
        if outcome == "exited":
            _kill_group(proc, signal.SIGKILL)  # leftovers it started in the background
        else:
            _kill_group(proc, signal.SIGTERM)
            _wait(proc, time.monotonic() + grace, None)
            _kill_group(proc, signal.SIGKILL)
            error = (
                f"time limit of {task.timeout_seconds:g} s exceeded; the command was killed"
                if outcome == "timeout"
                else "cancelled; the command was killed"
            )
        exit_code = proc.wait()
        duration = time.monotonic() - started
        return CommandResult(
            exit_code=exit_code,
            timed_out=outcome == "timeout",
            cancelled=outcome == "cancel",
            stdout_tail=_tail(out, tail_bytes),
            stderr_tail=_tail(err, tail_bytes),
            output_files=[],
            duration_seconds=duration,
            error=error,
        )


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the process has exited, without reaping it: while it is an unreaped zombie its pid and process
    group id can't be reused, so signalling the group afterwards can't hit a stranger."""
    waitid: Callable[..., Any] | None = getattr(os, "waitid", None)
    if waitid is None:  # pragma: no cover - platforms without waitid reap here instead
        return proc.poll() is not None
    if proc.returncode is not None:
        return True
    try:
        info = waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _wait(proc: subprocess.Popen[bytes], deadline: float | None, cancel: threading.Event | None) -> str:
    """Wait for exit, the deadline or the cancel event; say which: 'exited', 'timeout' or 'cancel'."""
    pause = 0.001
    while True:
        if _has_exited(proc):
            return "exited"
        if cancel is not None and cancel.is_set():
            return "cancel"
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return "timeout"
        pause = min(pause * 2, _POLL_MAX_SECONDS)
        step = pause if deadline is None else min(pause, deadline - now)
        if cancel is not None:
            cancel.wait(step)
        else:
            time.sleep(step)


def _kill_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The command is its own session and group leader, so its pid is the group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _tail(stream: IO[bytes], limit: int) -> str:
    size = stream.seek(0, os.SEEK_END)
    start = max(0, size - limit)
    stream.seek(start)
    data = stream.read(limit)
    if start > 0:
        # Don't start in the middle of a UTF-8 sequence: drop up to three continuation bytes.
        skip = 0
        while skip < 3 and skip < len(data) and 0x80 <= data[skip] <= 0xBF:
            skip += 1
        data = data[skip:]
    return data.decode("utf-8", errors="replace")


def _upload_outputs(patterns: Sequence[str], folder: Path, transfer: BlobTransfer, prefix: str) -> list[str]:
    files: set[Path] = set()
    for pattern in patterns:
        for match in folder.glob(pattern):
            # A command can leave symlinks that point anywhere; only upload what really lies in the folder.
            resolved = match.resolve()
            if resolved.is_relative_to(folder) and resolved.is_file():
                files.add(match)
    uploaded: list[str] = []
    for path in sorted(files):
        blob_name = f"{prefix}{path.relative_to(folder).as_posix()}"
        transfer.upload_file(path, blob_name)
        uploaded.append(blob_name)
    return uploaded


def _remove_tree(folder: Path) -> None:
    def make_writable_and_retry(function: Callable[..., Any], path: str, _exc: Any) -> None:
        # A command may leave read-only folders behind; make them writable so they can be removed.
        try:
            os.chmod(os.path.dirname(path), stat.S_IRWXU)
            os.chmod(path, stat.S_IRWXU)
            function(path)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=make_writable_and_retry)
    else:
        shutil.rmtree(folder, onerror=make_writable_and_retry)
    if folder.exists():
        logger.warning("could not remove the task working folder %s", folder)
