"""Command tasks, as Azure Batch runs them: a command line in a fresh working folder, with files from blobs.

`run_command` does one run of a `CommandTask`:

1. ends the runs a dead worker left under `work_root` (see `durable_batch/activities/command_runs.py`), then makes a
fresh,
   uniquely named working folder (mode 0700; owned by the command's user when one is set) and its run marker;
2. downloads each resource file into it (relative paths only; `..` and absolute paths are refused);
3. runs the argv list without a shell, as `user` when given, with the folder as its current directory, `PWD`
   and `BATCH_TASK_WORKING_DIR`, the task id as `BATCH_TASK_ID`, the run's id as `BATCH_TASK_RUN_ID`, and the
   task's environment on top of the worker's less its secrets (`durable_batch/activities/command_env.py`);
4. keeps the last `tail_bytes` of stdout and of stderr (each streams to an unnamed temporary file, so a chatty
   command costs disk, not memory);
5. runs it under a shepherd (`durable_batch/activities/shepherd.py`), a child subreaper that keeps every process the
command
   starts below itself, `setsid` and double forks included: on the time limit or the cancel event they all get
   SIGTERM, then SIGKILL after a grace period; when the command exits by itself, whatever it left running is
   killed. The run returns only once they are all dead, so nothing outlives the task or holds its folder;
6. uploads the files matching the output globs to `{output_prefix}{path relative to the folder}` (also when
   the command failed, since its outputs often explain why; not when the run was cancelled); symlinks out of
   the folder and files with other hard links are skipped; when the files sum to more than
   `max_output_bytes`, none is uploaded and the run fails, naming the largest;
7. removes the folder and the marker.

A command that can't be started (not found, not executable) gives a result with `error` set, not an
exception. Storage failures (a missing resource blob, a failed upload) propagate, so the caller's retry
policy applies. A task whose paths or environment are malformed raises `CommandTaskError` before anything
runs; specs are meant to be validated at the edge with `validate_command_task`.

Linux only (/proc, prctl), as Azure Functions' Python workers are.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import re
import signal
import stat
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Protocol

from durable_batch.activities.command_env import command_environment, inherited_environment
from durable_batch.activities.command_runs import RunMarker, recover_abandoned_runs, remove_tree
from durable_batch.activities.log_files import log_files
from durable_batch.activities.process_tree import ProcessRef, kill_run
from durable_batch.activities.shepherds import CancelSignal, Shepherd, start_shepherd
from durable_batch.app.settings import CommandUser
from durable_batch.batch.errors import BatchError
from durable_batch.batch.paths import relative_path_problem

__all__ = [
    "BlobTransfer",
    "CommandResult",
    "CommandTask",
    "CommandTaskError",
    "Download",
    "Upload",
    "inherited_environment",
    "run_command",
    "validate_command_task",
]

logger = logging.getLogger(__name__)

DEFAULT_TAIL_BYTES = 64 * 1024
DEFAULT_KILL_GRACE_SECONDS = 5.0
# How long past the grace period the worker waits for the shepherd before it kills the run itself: the shepherd
# only has to send SIGKILLs and reap, which takes well under a second even for thousands of processes.
_SHEPHERD_SLACK_SECONDS = 10.0


class CommandTaskError(BatchError):
    """A command task is malformed: an empty command line, a path that leaves the working folder, a bad
    environment variable name. Fix the job spec; retrying won't help."""


class BlobTransfer(Protocol):
    """Moves files between the working folder and blob storage; blob names are relative to the caller's
    container (and whatever prefix it applies)."""

    def download_to_file(self, blob_name: str, path: Path) -> None: ...

    def upload_file(self, path: Path, blob_name: str) -> None: ...


@dataclass(frozen=True)
class Download:
    """A file put into the working folder before the command runs: `fetch` writes it at `relative`, and `mode`
    (permission bits) is set on it when given."""

    relative: str
    fetch: Callable[[Path], Any]
    mode: int | None = None


@dataclass(frozen=True)
class Upload:
    """Files matching `pattern` uploaded after the command ran when `when(succeeded)` holds: `put(file,
    relative path)` uploads one and returns the name the result lists."""

    pattern: str
    when: Callable[[bool], bool]
    put: Callable[[Path, str], str]


@dataclass(frozen=True)
class CommandTask:
    """One command-line task. `resource_files` are `(blob name, relative path)` pairs and `downloads` other files
    to put in its folder first; `output_files` are globs relative to the working folder (`pathlib` syntax: `*`,
    `?`, `[...]`, and `**` for any depth), uploaded to the output prefix, and `uploads` other rules."""

    task_id: str
    command_line: Sequence[str]
    resource_files: Sequence[tuple[str, str]] = ()
    output_files: Sequence[str] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float | None = None
    downloads: Sequence[Download] = ()
    uploads: Sequence[Upload] = ()


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
    outputs_too_large: bool = False
    """Its output files summed to more than the run's limit: none was uploaded, and `error` says which."""
    ended_whole: bool = True
    """Every process of the run is known to have ended: its supervisor saw the last of them end (False when the
    supervisor itself was killed: its processes were then searched for by their marker, which one that cleared
    its environment escapes)."""

    @property
    def succeeded(self) -> bool:
        """Exit code 0, within the time limit, not cancelled, and its output files within their limit."""
        return self.exit_code == 0 and not self.timed_out and not self.cancelled and not self.outputs_too_large


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
    for i, pattern in enumerate([*task.output_files, *(u.pattern for u in task.uploads)]):
        problem = relative_path_problem(pattern)
        if problem:
            problems.append(f"outputFiles[{i}]: {pattern!r} {problem}")
    for download in task.downloads:
        problem = relative_path_problem(download.relative)
        if problem:
            problems.append(f"resourceFiles: {download.relative!r} {problem}")
    for name, value in task.environment.items():
        if not _ENV_NAME.match(name):
            problems.append(f"environment: {name!r} is not a valid variable name")
        elif "\x00" in value:
            problems.append(f"environment.{name}: contains a NUL character")
    if task.timeout_seconds is not None and not task.timeout_seconds > 0:
        problems.append(f"timeoutSeconds: must be more than 0, got {task.timeout_seconds}")
    return problems


def run_command(
    task: CommandTask,
    *,
    work_root: Path,
    transfer: BlobTransfer,
    output_prefix: str,
    cancel: CancelSignal | None = None,
    tail_bytes: int = DEFAULT_TAIL_BYTES,
    kill_grace_seconds: float = DEFAULT_KILL_GRACE_SECONDS,
    user: CommandUser | None = None,
    max_output_bytes: int | None = None,
) -> CommandResult:
    """Run `task` once in a fresh working folder under `work_root`, as `user` if given (the worker must then
    be root), its output files limited to `max_output_bytes` in all (None: no limit); see the module docstring."""
    problems = validate_command_task(task)
    if problems:
        raise CommandTaskError(f"command task {task.task_id!r}: " + "; ".join(problems))
    if user is not None and user.uid == os.geteuid():
        user = None  # already that user: nothing to switch
    if user is not None and os.geteuid() != 0:
        return _not_run(
            cancelled=False,
            error=f"BATCH_COMMAND_USER is {user.name!r}, but the worker does not run as root, so it cannot start "
            "commands as another user; run the worker as root or remove the setting",
        )
    work_root.mkdir(parents=True, exist_ok=True)
    root = work_root.resolve()
    closed = None if user is None else _closed_to(root, user)
    if user is not None and closed is not None:
        return _not_run(
            cancelled=False,
            error=f"commands run as {user.name}, who cannot enter the work folder {root}: {closed} is closed to "
            "other users; set BATCH_WORK_DIR to a folder they can enter (the default, under the system's "
            "temporary folder, is one), open it (chmod o+x), or set BATCH_COMMAND_USER to @worker",
        )
    # A task re-run after a crash must not overlap the run the dead worker left: end those first.
    recover_abandoned_runs(root)
    run_id = uuid.uuid4().hex
    folder = root / f"{_folder_prefix(task.task_id)}-{run_id[:12]}"
    marker = RunMarker.for_this_worker(run_id, task.task_id, folder)
    marker.write()  # before the folder exists, so that a crash never leaves a folder nobody knows of
    try:
        folder.mkdir(mode=0o700)
        for blob_name, relative in task.resource_files:
            if cancel is not None and cancel.is_set():
                return _not_run(cancelled=True, error="cancelled before the command started")
            target = _inside(folder, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            transfer.download_to_file(blob_name, target)
        for download in task.downloads:
            if cancel is not None and cancel.is_set():
                return _not_run(cancelled=True, error="cancelled before the command started")
            target = _inside(folder, download.relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            download.fetch(target)
            if download.mode is not None:
                target.chmod(download.mode)
        if cancel is not None and cancel.is_set():
            return _not_run(cancelled=True, error="cancelled before the command started")
        if user is not None:
            _give_to(folder, user)
        result = _execute(task, folder, marker, cancel, tail_bytes, kill_grace_seconds, user)
        if result.exit_code is None or result.cancelled:
            return result
        uploads = _uploads(task, folder, transfer, output_prefix, result.succeeded)
        problem = _outputs_problem([path for path, _ in uploads], folder, max_output_bytes)
        if problem is not None:
            error = problem if result.error is None else f"{result.error}; {problem}"
            return replace(result, error=error, outputs_too_large=True)
        return replace(result, output_files=[put(path, path.relative_to(folder).as_posix()) for path, put in uploads])
    finally:
        remove_tree(folder)
        marker.remove()


def _closed_to(root: Path, user: CommandUser) -> Path | None:
    """The first folder on the way to `root` that `user` may not pass through, or None."""
    for folder in reversed([root, *root.parents]):
        info = folder.stat()
        if not info.st_mode & stat.S_IXOTH and info.st_uid != user.uid:
            return folder
    return None


def _folder_prefix(task_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", task_id)[:64] or "task"


def _inside(folder: Path, relative: str) -> Path:
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder):
        raise CommandTaskError(f"{relative!r} resolves outside the task's working folder")
    return target


def _not_run(*, cancelled: bool, error: str) -> CommandResult:
    return CommandResult(None, False, cancelled, "", "", [], 0.0, error)


def _give_to(folder: Path, user: CommandUser) -> None:
    """Hand the folder and what was downloaded into it to the command's user; the folder stays 0700, so other
    users (but root, and other tasks of the same user) can't look in."""
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def _execute(
    task: CommandTask,
    folder: Path,
    marker: RunMarker,
    cancel: CancelSignal | None,
    tail_bytes: int,
    grace: float,
    user: CommandUser | None,
) -> CommandResult:
    env = command_environment(
        os.environ, task.environment, task_id=task.task_id, folder=folder, run_id=marker.run_id, user=user
    )
    config = {
        "argv": list(task.command_line),
        "cwd": str(folder),
        "env": env,
        "user": None if user is None else {"uid": user.uid, "gid": user.gid},
        "grace": grace,
    }
    # The logs live beside the folder, not in it, so output globs never pick them up.
    work_root = folder.parent
    out, err = log_files.take(work_root), log_files.take(work_root)
    result: CommandResult | None = None
    try:
        result = _supervise(task, config, out, err, marker, cancel, tail_bytes, grace)
    finally:
        for stream in (out, err):
            log_files.give_back(work_root, stream, reuse=result is not None and result.ended_whole)
    return result


def _supervise(
    task: CommandTask,
    config: dict[str, Any],
    out: IO[bytes],
    err: IO[bytes],
    marker: RunMarker,
    cancel: CancelSignal | None,
    tail_bytes: int,
    grace: float,
) -> CommandResult:
    """Run the command under its shepherd; how it ended."""
    with _config_file(config) as source:
        started = time.monotonic()
        shepherd, status = _start_shepherd(source, out, err, marker)
        with status, contextlib.closing(shepherd):
            first = status.readline().split(" ", 2)
            if first[0] != "started":
                shepherd.wait(None, None)
                return _not_run(cancelled=False, error=_start_error(task, first))
            deadline = started + task.timeout_seconds if task.timeout_seconds is not None else None
            outcome = shepherd.wait(deadline, cancel)
            if outcome != "exited":
                shepherd.send_signal(signal.SIGTERM)  # it passes SIGTERM on, and SIGKILL after the grace
                if shepherd.wait(time.monotonic() + grace + _SHEPHERD_SLACK_SECONDS, None) != "exited":
                    shepherd.send_signal(signal.SIGKILL)
                    shepherd.wait(None, None)
            last = status.read().split()
        error: str | None = None
        whole = last[-2:-1] == ["exit"]
        if whole:
            exit_code = int(last[-1])
        else:
            # The shepherd itself was killed (by the command, which may signal it when both run as one user):
            # find the run's processes by their marker instead.
            survivors = kill_run(marker.run_id, None)
            exit_code = -signal.SIGKILL
            error = "the command's supervisor ended unexpectedly; the command was killed" + (
                f", but processes {sorted(survivors)} survived" if survivors else ""
            )
        if outcome != "exited":
            error = (
                f"time limit of {task.timeout_seconds:g} s exceeded; the command was killed"
                if outcome == "timeout"
                else "cancelled; the command was killed"
            )
        return CommandResult(
            exit_code=exit_code,
            timed_out=outcome == "timeout",
            cancelled=outcome == "cancel",
            stdout_tail=_tail(out, tail_bytes),
            stderr_tail=_tail(err, tail_bytes),
            output_files=[],
            duration_seconds=time.monotonic() - started,
            error=error,
            ended_whole=whole,
        )


@contextlib.contextmanager
def _config_file(config: dict[str, Any]) -> Iterator[int]:
    """The run's config in a file of memory only (it holds the command's environment), as a descriptor."""
    fd = os.memfd_create("command-config", os.MFD_CLOEXEC)
    try:
        os.write(fd, marshal.dumps(config))  # the shepherd reads it with marshal: it is the same Python
        yield fd
    finally:
        os.close(fd)


def _start_shepherd(config_fd: int, out: IO[bytes], err: IO[bytes], marker: RunMarker) -> tuple[Shepherd, IO[str]]:
    """Start the run's shepherd; it and the stream of its status lines."""
    read_end, write_end = os.pipe()
    try:
        shepherd = start_shepherd(config_fd, out.fileno(), err.fileno(), write_end)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)  # the shepherd has its own: the stream ends when it exits
    marker.with_shepherd(ProcessRef.of(shepherd.pid)).write()
    return shepherd, os.fdopen(read_end, encoding="utf-8")


def _start_error(task: CommandTask, status: list[str]) -> str:
    kind = status[1].strip() if len(status) > 1 else ""
    if kind == "notfound":
        return (
            f"command not found: {task.command_line[0]!r} (not on PATH, nor in the working folder when given as ./name)"
        )
    if kind == "notexecutable":
        return f"command is not executable: {task.command_line[0]!r}"
    detail = status[2].strip() if len(status) > 2 else "its supervisor ended before starting it"
    return f"command could not start: {detail}"


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


def _uploads(
    task: CommandTask, folder: Path, transfer: BlobTransfer, prefix: str, succeeded: bool
) -> list[tuple[Path, Callable[[Path, str], str]]]:
    """The files to upload after the run, each with what uploads it (given its path relative to the folder) and
    returns the name the result lists: the plain globs' files under `prefix`, then each rule's that applies."""

    def to_prefix(path: Path, relative: str) -> str:
        transfer.upload_file(path, f"{prefix}{relative}")
        return f"{prefix}{relative}"

    plain = sorted({path for pattern in task.output_files for path in _matches(pattern, folder)})
    uploads: list[tuple[Path, Callable[[Path, str], str]]] = [(path, to_prefix) for path in plain]
    for rule in task.uploads:
        if rule.when(succeeded):
            uploads += [(path, rule.put) for path in _matches(rule.pattern, folder)]
    return uploads


def _outputs_problem(paths: Sequence[Path], folder: Path, limit: int | None) -> str | None:
    """Why these output files may not be uploaded (they sum to more than `limit` bytes), or None."""
    if limit is None:
        return None
    sizes = [(path.stat().st_size, path) for path in paths]
    total = sum(size for size, _ in sizes)
    if total <= limit:
        return None
    size, largest = max(sizes, key=lambda item: item[0])
    name = largest.relative_to(folder).as_posix()
    what = (
        f"output file {name!r} is {size:,} bytes"
        if len(sizes) == 1
        else f"the output files sum to {total:,} bytes (the largest, {name!r}, is {size:,})"
    )
    return (
        f"OutputTooLarge: {what}; a task's output files may sum to {limit:,} bytes (BATCH_MAX_OUTPUT_BYTES), so "
        "none was uploaded. Write less, or put large output in Blob Storage from the command itself"
    )


def _matches(pattern: str, folder: Path) -> list[Path]:
    """The files in the folder that `pattern` matches and that may be uploaded, sorted."""
    files: set[Path] = set()
    for match in folder.glob(pattern):
        # A command can leave symlinks that point anywhere; only upload what really lies in the folder.
        resolved = match.resolve()
        if not (resolved.is_relative_to(folder) and resolved.is_file()):
            continue
        # A hard link is another name of a file that may lie anywhere (made as the worker's user, it can be
        # /etc/shadow); the folder can't tell, so a file with more than one name is not uploaded. This is
        # no boundary (a command can copy what it can read); the command's own OS user is.
        if resolved.stat().st_nlink > 1:
            logger.warning("not uploading %s: it has other hard links, so it may be a file from elsewhere", match)
            continue
        files.add(match)
    return sorted(files)
