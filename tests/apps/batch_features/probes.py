"""What the batch_features app's handlers leave behind, and how tests read it.

Handlers write small files under the folder named by the `BATCH_FEATURES_DIR` setting: a count of the calls
of each task, and the concurrency of each `test.concurrency` key. Every update holds an exclusive `flock` on
the file's lock, so the counts stay exact across the host's threads and across processes (a host may run
activities in several worker processes). Tests read the same files with the functions below.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FOLDER_SETTING = "BATCH_FEATURES_DIR"


def folder() -> Path:
    """The probes folder of this process (read when called: the app is imported before tests need it)."""
    return Path(os.environ[FOLDER_SETTING])


@contextmanager
def locked(path: Path) -> Iterator[Path]:
    """Hold an exclusive lock for `path` (on a `.lock` file beside it, so `path` itself can be replaced)."""
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def _write(path: Path, text: str) -> None:
    # Replaced whole, never truncated in place: a host killed mid-write (the crash test) leaves the old count.
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text)
    os.replace(temp, path)


def calls_path(base: Path, job_id: str, task_id: str) -> Path:
    return base / f"calls--{job_id}--{task_id}"


def count_call(job_id: str, task_id: str) -> int:
    """Count one call of a task's handler; returns this call's number (1 for the first)."""
    with locked(calls_path(folder(), job_id, task_id)) as path:
        count = int(_read_json(path, 0)) + 1
        _write(path, str(count))
    return count


def calls(base: Path, job_id: str, task_id: str) -> int:
    """How many times the task's handler was called (0 if never)."""
    with locked(calls_path(base, job_id, task_id)) as path:
        return int(_read_json(path, 0))


def concurrency_path(base: Path, key: str) -> Path:
    return base / f"concurrency--{key}.json"


@contextmanager
def running(key: str) -> Iterator[None]:
    """Count the caller as running under `key` while inside; the file keeps `current`, `max` and `calls`."""
    path = concurrency_path(folder(), key)
    with locked(path):
        state = _read_json(path, {"current": 0, "max": 0, "calls": 0})
        state["current"] += 1
        state["calls"] += 1
        state["max"] = max(state["max"], state["current"])
        _write(path, json.dumps(state))
    try:
        yield
    finally:
        with locked(path):
            state = _read_json(path, {})
            state["current"] -= 1
            _write(path, json.dumps(state))


def concurrency(base: Path, key: str) -> dict[str, int]:
    """`{"current", "max", "calls"}` of a concurrency key (all 0 if no call ran)."""
    with locked(concurrency_path(base, key)) as path:
        state: dict[str, int] = _read_json(path, {"current": 0, "max": 0, "calls": 0})
        return state
