"""The unit tier starts no process: a test that would (a command task, an isolated lane, a tool) fails at once,
naming what it tried, and belongs in `tests/process/`. Every way Python starts one ends in these calls."""

from __future__ import annotations

import _posixsubprocess
import os
import platform
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

# The Azure SDK's user agent names the processor, which `platform` learns once from `uname -p`: learnt here,
# before the guard, so that building a client is no process of the test's.
_PROCESSOR = platform.uname().processor


def _refuse(what: str) -> Any:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a unit test started a process ({what}): move it to tests/process/")

    return refused


@pytest.fixture(autouse=True)
def no_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_posixsubprocess, "fork_exec", _refuse("fork_exec"))  # multiprocessing's spawn
    monkeypatch.setattr(subprocess, "_fork_exec", _refuse("subprocess"), raising=False)  # its own name for it
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "spawnv", "spawnve", "execv", "execve"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _refuse(f"os.{name}"))
    yield
