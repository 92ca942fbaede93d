"""Finding and killing every process of one command run, from the worker's side, through /proc (Linux).

A run's processes are found two ways, because either can miss some: by parent links below its shepherd (see
`durable_batch/activities/shepherd.py`, which keeps every descendant below itself while it lives), and by the run's
marker variable (`BATCH_TASK_RUN_ID=<run id>`) in `/proc/<pid>/environ`, which every process the command starts
inherits unless it clears its environment, and which finds them even after the shepherd is gone and they were
re-parented to init. A process that both clears its environment and escapes a dead shepherd is out of reach;
running commands as their own OS user (`BATCH_COMMAND_USER`) is what confines such a process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from durable_batch.activities.command_env import RUN_ID_VARIABLE
from durable_batch.activities.shepherd import all_pids, descendants, read_stat, signal_all

__all__ = ["ProcessRef", "kill_run", "marked_processes"]

_POLL_MAX_SECONDS = 0.05


@dataclass(frozen=True)
class ProcessRef:
    """A process by pid and start time, so that a pid reused by a stranger is not taken for it."""

    pid: int
    start: int

    @classmethod
    def of(cls, pid: int) -> ProcessRef | None:
        """The process running as `pid` now, or None if there is none."""
        stat = read_stat(pid)
        return None if stat is None else cls(pid, stat[2])

    def alive(self) -> bool:
        """Whether this very process still runs (a zombie doesn't)."""
        stat = read_stat(self.pid)
        return stat is not None and stat[2] == self.start and stat[1] != "Z"


def marked_processes(run_id: str) -> set[int]:
    """The live processes whose environment carries the run's marker."""
    needle = f"{RUN_ID_VARIABLE}={run_id}".encode()
    found: set[int] = set()
    me = os.getpid()
    for pid in all_pids():
        if pid == me:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:  # ended meanwhile, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            stat = read_stat(pid)
            if stat is not None and stat[1] != "Z":
                found.add(pid)
    return found


def kill_run(run_id: str, shepherd: ProcessRef | None, *, timeout: float = 30.0) -> set[int]:
    """SIGKILL every process of the run (its shepherd, the shepherd's descendants, every process with the run's
    marker) until none is left; the pids still alive after `timeout` (empty when all are dead)."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        targets = marked_processes(run_id)
        if shepherd is not None and shepherd.alive():
            targets |= descendants(shepherd.pid)
            # The shepherd last: while it lives, its descendants stay below it where they can be found.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(shepherd.pid, signal.SIGSTOP)
            targets.add(shepherd.pid)
        live = {pid for pid in targets if _running(pid)}
        if not live:
            return set()
        if time.monotonic() >= deadline:
            return live
        others = live - ({shepherd.pid} if shepherd is not None else set())
        signal_all(others, signal.SIGKILL)
        if shepherd is not None and shepherd.pid in live and not others:
            signal_all([shepherd.pid], signal.SIGKILL)
        pause = min(pause * 2, _POLL_MAX_SECONDS)
        time.sleep(pause)


def _running(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is not None and stat[1] != "Z"
