"""devhost bounds glibc's malloc arenas for itself and the processes it starts, unless the user chose a bound."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.process

PROBE = """
import os, sys
from devhost.memory import bound_malloc_arenas
bound = bound_malloc_arenas()
child = os.popen(sys.executable + " -c 'import os; print(os.environ.get(\\"MALLOC_ARENA_MAX\\"))'").read().strip()
print(bound, child)
"""


def probe(**env: str) -> str:
    environment = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**environment, **env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_bound_is_set_here_and_for_what_starts_after() -> None:
    assert probe() == "True 2"


def test_a_bound_the_user_set_is_kept() -> None:
    assert probe(MALLOC_ARENA_MAX="4") == "False 4"
