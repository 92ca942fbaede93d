"""What the command runner's tests share: an in-memory BlobTransfer, task builders, and process probes."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from durable_batch.activities.command_runner import CommandResult, CommandTask, run_command

PY = sys.executable
PREFIX = "jobs/j1/tasks/t1/"


class MemoryBlobs:
    """A BlobTransfer over a dict, recording what was uploaded."""

    def __init__(self, blobs: dict[str, bytes] | None = None) -> None:
        self.blobs = dict(blobs or {})
        self.downloads: list[str] = []
        self.uploads: dict[str, bytes] = {}

    def download_to_file(self, blob_name: str, path: Path) -> None:
        if blob_name not in self.blobs:
            raise FileNotFoundError(f"no blob {blob_name!r}")
        self.downloads.append(blob_name)
        path.write_bytes(self.blobs[blob_name])

    def upload_file(self, path: Path, blob_name: str) -> None:
        self.uploads[blob_name] = path.read_bytes()


def python(code: str, *, task_id: str = "t1", **fields: Any) -> CommandTask:
    return CommandTask(task_id, [PY, "-c", code], **fields)


def run(task: CommandTask, tmp_path: Path, blobs: MemoryBlobs | None = None, **options: Any) -> CommandResult:
    transfer = blobs if blobs is not None else MemoryBlobs()
    return run_command(task, work_root=tmp_path / "work", transfer=transfer, output_prefix=PREFIX, **options)


def assert_work_root_empty(tmp_path: Path) -> None:
    assert list((tmp_path / "work").iterdir()) == []


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.02)
    return False


@contextlib.contextmanager
def cancel_when_ready(tmp_path: Path) -> Iterator[threading.Event]:
    """An event that is set once the running command has created a file named `ready` in its folder."""
    cancel = threading.Event()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.01):
            if any((tmp_path / "work").glob("*/ready")):
                cancel.set()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield cancel
    finally:
        done.set()
        watcher.join()


def wait_until(predicate: Any, within: float = 30.0, what: str = "the condition") -> None:
    """Poll `predicate` until it holds; fail after `within` seconds (generous: the machine may be busy)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def public_folder(prefix: str) -> Iterator[Path]:
    """A folder other users may traverse (pytest's own are 0700), as a real work root's parents are."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
