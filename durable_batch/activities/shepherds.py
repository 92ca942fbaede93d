"""The worker's side of the shepherd server (see `durable_batch/activities/shepherd.py`): one server per worker
process, started on first use and again if it died, that forks a shepherd for each command run.

`start_shepherd` hands the server a run's config and its three pipes and gets back a `Shepherd`: a pidfd of the
run's supervisor, to wait for (it becomes readable when the process exits) and to signal. The server's socket is
this process's alone: a child forked from it closes its copy (`os.register_at_fork`), so that the server sees
the worker's death as the socket's end and takes its shepherds with it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Protocol

from durable_batch.activities.shepherd import REQUEST

__all__ = ["CancelSignal", "Shepherd", "ShepherdUnavailable", "start_shepherd"]

_SERVER = Path(__file__).with_name("shepherd.py")
_POLL_MAX_SECONDS = 0.05
"""How often a wait looks at its cancel event; the shepherd's exit itself wakes it at once."""


class CancelSignal(Protocol):
    """Asked between steps of a run and while the command runs (a `threading.Event` is one): once it says so,
    the run stops."""

    def is_set(self) -> bool: ...


class ShepherdUnavailable(RuntimeError):
    """The shepherd server could not start a shepherd, also after a fresh start of the server."""


class Shepherd:
    """A running shepherd, by pidfd: waiting for it and signalling it can never reach another process."""

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self._poll = select.poll()
        self._poll.register(pidfd, select.POLLIN)

    def exited(self, timeout: float = 0.0) -> bool:
        """Whether it has exited, waiting up to `timeout` seconds for it."""
        return bool(self._poll.poll(max(0, round(timeout * 1000))))

    def wait(self, deadline: float | None, cancel: CancelSignal | None) -> str:
        """Wait for it to exit, the deadline (monotonic) or the cancel event: 'exited', 'timeout' or 'cancel'."""
        while True:
            if cancel is not None and cancel.is_set():
                return "cancel"
            step = _POLL_MAX_SECONDS if cancel is not None else 3600.0
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return "exited" if self.exited() else "timeout"
                step = min(step, left)
            if self.exited(step):
                return "exited"

    def send_signal(self, signum: int) -> None:
        """Signal it, unless it has already exited."""
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, signum)

    def close(self) -> None:
        os.close(self._pidfd)


class _Gone(Exception):
    def __init__(self, message: str, *, before_request: bool) -> None:
        super().__init__(message)
        self.before_request = before_request


class _Server:
    """The server process and this process's end of its socket."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_SERVER), "--serve", str(theirs.fileno())],
                cwd="/",
                env={},  # nothing of the worker's environment: its secrets above all
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # a signal to the worker's process group is not one to every command
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.channel = ours

    def start(self, fds: tuple[int, int, int, int]) -> Shepherd:
        try:
            socket.send_fds(self.channel, [REQUEST], list(fds))
        except OSError as exc:
            raise _Gone(str(exc), before_request=True) from exc
        try:
            message, pidfds, _, _ = socket.recv_fds(self.channel, 512, 1)
        except OSError as exc:
            raise _Gone(str(exc), before_request=False) from exc
        if not message:
            raise _Gone("it closed its socket", before_request=False)
        text = message.decode(errors="replace")
        kind, _, detail = text.partition(" ")
        if kind != "started" or len(pidfds) != 1:
            for each in pidfds:
                os.close(each)
            raise ShepherdUnavailable(f"the shepherd server refused: {text}")
        return Shepherd(int(detail), pidfds[0])

    def stop(self) -> None:
        self.channel.close()  # the server exits on its own when its socket ends
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_lock = threading.Lock()
_server: _Server | None = None


def start_shepherd(config: int, stdout: int, stderr: int, status: int) -> Shepherd:
    """A shepherd for one run, from this process's server: the four descriptors are the run's config (a file
    to read from its start), its stdout and stderr, and the write end of its status pipe. A server that died
    is started again once; `ShepherdUnavailable` (or the `OSError` of starting it) when that fails too."""
    global _server
    with _lock:  # one request at a time on the socket: a fork takes about a millisecond
        if _server is not None and _server.process.poll() is not None:
            _server.stop()  # it died (killed, say): a new one starts
            _server = None
        for attempt in (1, 2):
            if _server is None:
                _server = _Server()
            try:
                return _server.start((config, stdout, stderr, status))
            except _Gone as exc:
                _server.stop()
                _server = None
                # Only a request the server never took is sent again: one it took may have started a shepherd.
                if attempt == 2 or not exc.before_request:
                    raise ShepherdUnavailable(f"the shepherd server ended: {exc}") from exc
    raise AssertionError("unreachable")


def _forget_after_fork() -> None:
    # A forked child must neither share the parent's socket nor keep the parent's server alive after the parent
    # died: close its copy, and start a server of its own if it runs commands.
    global _server, _lock
    _lock = threading.Lock()
    if _server is not None:
        _server.channel.close()
        _server = None


def _stop_at_exit() -> None:
    # The server would exit on its own once this process has gone; stopping it here also reaps it.
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(_stop_at_exit)
