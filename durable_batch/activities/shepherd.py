"""The supervisor of one command run: a small process between the worker and the command that outlives no one.

The worker starts it as `python -I -S shepherd.py CONFIG_FD STATUS_FD` (standard library only, so that it
starts fast and imports nothing a job could influence). It:

- makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`), so every process the command starts, also one that
  calls `setsid` or double-forks, stays its descendant instead of escaping to init;
- asks for SIGTERM when the worker thread that started it dies (`PR_SET_PDEATHSIG`), so a crashed worker's
  commands are stopped, not orphaned;
- reads the command (argv, environment, folder, user) from CONFIG_FD, not from its own argv or environment:
  the job's environment (think `LD_PRELOAD`) must reach the command, never this process, which runs with the
  worker's privileges;
- starts the command in a session of its own, as the configured user, and writes `started <pid>` to STATUS_FD
  (or `error <kind> <message>` when it could not start);
- when the command exits by itself, SIGKILLs whatever it left running; on SIGTERM (a time limit, a cancel, the
  worker's death) sends SIGTERM to every descendant, then SIGKILL after the grace period;
- exits only once it has no child left, alive or zombie, after writing `exit <code>` (negative: a signal).

So when the worker has reaped the shepherd, every process of the run is dead. Linux only, as the Functions
Python workers are. The `/proc` readers here are also the worker's (see `durable_batch/activities/process_tree.py`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
_WAKE_SIGNALS = _STOP_SIGNALS | {signal.SIGCHLD}
_KILL_ROUND_SECONDS = 0.02


def read_stat(pid: int) -> tuple[int, str, int] | None:
    """`(parent pid, state, start time in clock ticks since boot)` of a process, or None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (command name) state ppid ...": the name may hold spaces and parentheses, so split after the last ")".
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), fields[0], int(fields[19])


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(root: int) -> set[int]:
    """Every live or zombie process below `root`, by the parent links in /proc at this moment."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        stat = read_stat(pid)
        if stat is not None:
            children.setdefault(stat[0], []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}): {os.strerror(errno)}")


def _unblock_signals() -> None:
    # The signal mask survives exec: the command must not start with SIGTERM blocked.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def _start(config: dict[str, Any]) -> subprocess.Popen[bytes]:
    user = config.get("user")
    return subprocess.Popen(
        config["argv"],
        cwd=config["cwd"],
        env=config["env"],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        user=user["uid"] if user else None,
        group=user["gid"] if user else None,
        extra_groups=[] if user else None,
        preexec_fn=_unblock_signals,
    )


def _reap(leader: int, status: list[int]) -> bool:
    """Reap every exited child; keep the leader's exit code in `status`. False once no child is left."""
    while True:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        if pid == leader:
            status.append(os.waitstatus_to_exitcode(wait_status))


def _supervise(leader: int, grace: float) -> int | None:
    me = os.getpid()
    status: list[int] = []
    kill_at: float | None = None  # when the stragglers get SIGKILL
    while _reap(leader, status):
        if status and kill_at is None:
            kill_at = time.monotonic()  # the command is done: what it left running goes now
        if kill_at is not None and time.monotonic() >= kill_at:
            signal_all(descendants(me), signal.SIGKILL)
            timeout = _KILL_ROUND_SECONDS
        else:
            timeout = 1.0 if kill_at is None else max(0.0, min(1.0, kill_at - time.monotonic()))
        received = signal.sigtimedwait(_WAKE_SIGNALS, timeout)
        if received is not None and received.si_signo in _STOP_SIGNALS and kill_at is None:
            kill_at = time.monotonic() + grace
            signal_all(descendants(me), signal.SIGTERM)
    return status[0] if status else None


def _report(stream: IO[str], line: str) -> None:
    stream.write(line.replace("\n", " ") + "\n")
    stream.flush()


def main(argv: list[str]) -> int:
    with os.fdopen(int(argv[1]), "rb") as source:
        config: dict[str, Any] = json.loads(source.read())
    status = os.fdopen(int(argv[2]), "w", encoding="utf-8")
    signal.pthread_sigmask(signal.SIG_BLOCK, _WAKE_SIGNALS)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != config["parent"]:
        _report(status, "error orphaned the worker ended before the command started")
        return 1
    try:
        leader = _start(config)
    except FileNotFoundError:
        _report(status, "error notfound")
        return 0
    except PermissionError:
        _report(status, "error notexecutable")
        return 0
    except (OSError, subprocess.SubprocessError) as exc:
        _report(status, f"error oserror {exc}")
        return 0
    _report(status, f"started {leader.pid}")
    code = _supervise(leader.pid, float(config["grace"]))
    leader.returncode = code if code is not None else -signal.SIGKILL  # reaped above; tell Popen so
    _report(status, f"exit {leader.returncode}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
