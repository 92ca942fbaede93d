"""Run markers: a file per running command, so that the runs of a worker that died are found and ended.

Beside each working folder `{work_root}/{name}` lies `{work_root}/{name}.run` (JSON, readable by the worker's
user only): the run's id, the task, the folder, the worker process and the shepherd process, each by pid and start
time. It is written before the folder is made and removed after the folder is, so a folder without a marker
is never left by a crash.

`recover_abandoned_runs` looks at every marker whose worker no longer runs (a host killed with SIGKILL, a
worker that crashed, a machine rebooted): it kills the run's processes and removes its folder and marker. The
runner calls it before every run, so a task re-run after a crash never overlaps the run the dead worker left.
Markers of live workers (other worker processes sharing the work folder) are left alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from durable_batch.activities.process_tree import ProcessRef, kill_run

__all__ = ["MARKER_SUFFIX", "RunMarker", "recover_abandoned_runs", "remove_tree"]

logger = logging.getLogger(__name__)

MARKER_SUFFIX = ".run"


@dataclass(frozen=True)
class RunMarker:
    """What a marker file holds."""

    run_id: str
    task_id: str
    folder: str
    worker_pid: int
    worker_start: int
    shepherd_pid: int | None = None
    shepherd_start: int | None = None

    @classmethod
    def for_this_worker(cls, run_id: str, task_id: str, folder: Path) -> RunMarker:
        me = ProcessRef.of(os.getpid())
        if me is None:  # pragma: no cover - /proc always shows the reader itself
            raise RuntimeError("this process is missing from /proc")
        return cls(run_id, task_id, str(folder), me.pid, me.start)

    @staticmethod
    def path_for(folder: Path) -> Path:
        return folder.with_name(folder.name + MARKER_SUFFIX)

    def with_shepherd(self, shepherd: ProcessRef | None) -> RunMarker:
        if shepherd is None:
            return self
        return replace(self, shepherd_pid=shepherd.pid, shepherd_start=shepherd.start)

    def write(self) -> None:
        """Write (or replace) the marker atomically: a reader sees the old one or the new one, never half."""
        path = self.path_for(Path(self.folder))
        partial = path.with_name(f".{path.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(json.dumps(dict(self.__dict__)))  # its fields, all plain values
        os.replace(partial, path)

    def remove(self) -> None:
        self.path_for(Path(self.folder)).unlink(missing_ok=True)

    @property
    def shepherd(self) -> ProcessRef | None:
        if self.shepherd_pid is None or self.shepherd_start is None:
            return None
        return ProcessRef(self.shepherd_pid, self.shepherd_start)


def _read(path: Path) -> RunMarker | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunMarker(**data)
    except FileNotFoundError:
        return None  # its run ended meanwhile
    except (OSError, ValueError, TypeError) as exc:
        logger.warning("ignoring the unreadable run marker %s: %s", path, exc)
        return None


class _KnownWorkers:
    """Which worker wrote each marker, remembered by file name: a marker's worker never changes, so a run
    reads each marker once, not every marker of every running command before every run (32 at a time took a
    large share of a short command). Whether a worker is alive is still asked at every recovery."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[Path, ProcessRef] = {}

    def worker_of(self, path: Path) -> ProcessRef | None:
        with self._lock:
            return self._by_path.get(path)

    def remember(self, path: Path, worker: ProcessRef) -> None:
        with self._lock:
            self._by_path[path] = worker

    def keep_only(self, paths: set[Path], root: Path) -> None:
        with self._lock:
            self._by_path = {p: w for p, w in self._by_path.items() if p.parent != root or p in paths}


_known = _KnownWorkers()


def recover_abandoned_runs(work_root: Path) -> list[RunMarker]:
    """End the runs under `work_root` whose worker has died: kill their processes, remove their folders and
    markers. Returns the markers of the runs it ended (processes it could not kill are logged)."""
    root = work_root.resolve()
    ended: list[RunMarker] = []
    alive: dict[ProcessRef, bool] = {}
    with contextlib.suppress(FileNotFoundError):
        candidates = sorted(root.glob(f"*{MARKER_SUFFIX}"))
        _known.keep_only(set(candidates), root)
        for path in candidates:
            worker = _known.worker_of(path)
            if worker is not None and alive.setdefault(worker, worker.alive()):
                continue
            marker = _read(path)
            if marker is None:
                continue
            worker = ProcessRef(marker.worker_pid, marker.worker_start)
            _known.remember(path, worker)
            if alive.setdefault(worker, worker.alive()):
                continue
            survivors = kill_run(marker.run_id, marker.shepherd)
            if survivors:
                logger.error(
                    "could not kill processes %s of task %s, left by a worker that died; its folder stays",
                    sorted(survivors),
                    marker.task_id,
                )
                continue
            folder = Path(marker.folder)
            if folder.parent == root:  # a marker names a folder of its own work root, nothing else
                remove_tree(folder)
            path.unlink(missing_ok=True)
            logger.warning(
                "ended the run of task %s left by a worker that died (pid %d)", marker.task_id, marker.worker_pid
            )
            ended.append(marker)
    return ended


def remove_tree(folder: Path) -> None:
    """Remove a working folder, also one a command made read-only; log (not raise) when something stays."""

    def make_writable_and_retry(function: Callable[..., Any], path: str, _exc: Any) -> None:
        # A command may leave read-only folders behind; make them writable so they can be removed.
        try:
            os.chmod(os.path.dirname(path), stat.S_IRWXU)
            os.chmod(path, stat.S_IRWXU)
            function(path)
        except OSError:
            pass

    if not folder.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=make_writable_and_retry)
    else:
        shutil.rmtree(folder, onerror=make_writable_and_retry)
    if folder.exists():
        logger.warning("could not remove the task working folder %s", folder)
