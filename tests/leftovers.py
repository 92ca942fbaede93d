"""No test leaves a process behind: a run that ends with a process it started still alive fails, naming the test.

Every process the run starts carries a mark in its environment (`DURABLE_BATCH_TEST_RUN`, set for this run and
inherited by children: hosts, workers, Azurite, command tasks, whatever they start). After each test's call the
marked processes that were not there before it are noted as the test's; when the run ends (every fixture torn
down), any marked process still alive is a leftover: the run names it, with the test that started it (or "a
fixture", when it was started while a test was being set up), kills it, and fails. A process that clears its
environment escapes the mark; the framework's own never do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Generator
from pathlib import Path

import pytest

MARK = "DURABLE_BATCH_TEST_RUN"
GRACE_SECONDS = 10.0
"""How long a process stopped by the last teardowns gets to exit before it counts as left behind."""

Identity = tuple[int, str]
"""A process: its pid and its start time (so a reused pid is not mistaken for it)."""


def marked(token: str) -> dict[Identity, str]:
    """The live processes (zombies aside) whose environment carries this run's mark, with their command lines."""
    needle = f"{MARK}={token}".encode()
    found: dict[Identity, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] == "Z":
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError):
            continue  # gone, or not ours to read
        found[(int(entry.name), fields[19])] = command[:200]
    return found


class Leftovers:
    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.started_by: dict[Identity, str] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        before = set(marked(self.token))
        yield
        for process in set(marked(self.token)) - before:
            self.started_by.setdefault(process, item.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        deadline = time.monotonic() + GRACE_SECONDS
        left = marked(self.token)
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = marked(self.token)
        if not left:
            return
        lines = []
        for (pid, started), command in sorted(left.items()):
            by = self.started_by.get((pid, started), "a fixture (started while a test was set up)")
            lines.append(f"  pid {pid} started by {by}: {command}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "processes left running after the run (now killed):\n" + "\n".join(lines)
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_sep("=", "leftover processes", red=True)
            reporter.write_line(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    leftovers = Leftovers()
    os.environ[MARK] = leftovers.token
    config.pluginmanager.register(leftovers, "leftover-processes")
