"""Every process a command starts dies with its run, and a run left by a dead worker is ended before the next.

Real processes throughout: commands that call setsid, double-fork, fork hundreds of children and ignore SIGTERM;
and a worker process killed with SIGKILL, whose commands are then found and killed again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

import pytest

from durable_batch.activities import command_runs
from durable_batch.activities.command_runner import CommandResult
from durable_batch.activities.command_runs import MARKER_SUFFIX, RunMarker, recover_abandoned_runs
from tests.process.activities.command_support import (
    MemoryBlobs,
    cancel_when_ready,
    is_alive,
    python,
    run,
    wait_until,
)

pytestmark = pytest.mark.process

REPO = Path(__file__).resolve().parents[3]

# Starts a grandchild that leaves the command's session (setsid), ignores SIGTERM and sleeps; the command's
# parent exits at once, so the grandchild is an orphan of a dead parent: the classic escape from a group kill.
ESCAPE = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
read, write = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(write, str(os.getpid()).encode())
        time.sleep(600)
    os._exit(0)
os.close(write)
pid = int(os.read(read, 20))
print(pid, flush=True)
open({where!r}, "w").write(str(pid))
{then}
"""


def escaped_pid(result: CommandResult) -> int:
    return int(result.stdout_tail.split()[0])


def test_a_setsid_grandchild_that_ignores_sigterm_dies_when_the_command_exits(tmp_path: Path) -> None:
    result = run(python(ESCAPE.format(where=str(tmp_path / "pid"), then="")), tmp_path)
    assert result.succeeded, result.stderr_tail
    pid = escaped_pid(result)
    assert not is_alive(pid), f"grandchild {pid} outlived its task"


def test_a_setsid_grandchild_dies_at_the_time_limit(tmp_path: Path) -> None:
    code = ESCAPE.format(where=str(tmp_path / "pid"), then="time.sleep(600)")
    result = run(python(code, timeout_seconds=1.0), tmp_path, kill_grace_seconds=0.2)
    assert result.timed_out
    assert result.exit_code == -signal.SIGKILL  # the command ignores SIGTERM too
    assert not is_alive(escaped_pid(result))


def test_two_hundred_children_that_ignore_sigterm_are_dead_when_a_cancelled_run_returns(tmp_path: Path) -> None:
    code = """
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pids = []
for n in range(200):
    pid = os.fork()
    if pid == 0:
        if n % 2:
            os.setsid()
        time.sleep(600)
        os._exit(0)
    pids.append(pid)
print(" ".join(map(str, pids)), flush=True)
open("ready", "w")
time.sleep(600)
"""
    with cancel_when_ready(tmp_path) as cancel:
        result = run(python(code), tmp_path, cancel=cancel, kill_grace_seconds=0.2)
    assert result.cancelled
    pids = [int(pid) for pid in result.stdout_tail.split()]
    assert len(pids) == 200
    assert [pid for pid in pids if is_alive(pid)] == []


# A worker of its own: runs one command (which writes its pid and its escaped grandchild's pid to files), in the
# work root given, and waits. The test kills it with SIGKILL, as a host crash does.
WORKER = """
import sys, threading
from pathlib import Path
sys.path.insert(0, {repo!r})
from durable_batch.activities.command_runner import CommandTask, run_command

class NoBlobs:
    def download_to_file(self, blob_name, path): raise AssertionError(blob_name)
    def upload_file(self, path, blob_name): raise AssertionError(blob_name)

code = {code!r}
run_command(CommandTask("crashy", [sys.executable, "-c", code]), work_root=Path({root!r}), transfer=NoBlobs(),
            output_prefix="p/", kill_grace_seconds={grace!r})
"""

SLEEPER_WITH_ESCAPE = ESCAPE.format(
    where="{where}", then="open({mine!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)"
)


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """PIDs of the processes a test started, directly or through a worker; those still running at teardown
    (when the test failed before they were ended) are killed, so that no 600 s sleeper outlives its test."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if is_alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def start_worker(tmp_path: Path, grace: float, leftovers: list[int]) -> tuple[subprocess.Popen[bytes], int, int]:
    """A worker running one long command; its process, the command's pid and the escaped grandchild's pid, all
    of them also in `leftovers`."""
    escaped, command = tmp_path / "escaped.pid", tmp_path / "command.pid"
    code = SLEEPER_WITH_ESCAPE.replace("{where}", str(escaped)).replace("{mine!r}", repr(str(command)))
    source = WORKER.format(repo=str(REPO), code=code, root=str(tmp_path / "work"), grace=grace)
    worker = subprocess.Popen([sys.executable, "-c", source])
    leftovers.append(worker.pid)
    try:
        wait_until(lambda: command.exists() and command.read_text() != "", what="the command to start")
        leftovers.append(int(command.read_text()))
        wait_until(lambda: escaped.exists() and escaped.read_text() != "", what="the grandchild to start")
        leftovers.append(int(escaped.read_text()))
    except BaseException:
        kill_and_reap(worker)
        raise
    return worker, leftovers[-2], leftovers[-1]


# Prints which of `pids` still run (a zombie, dead but not yet reaped by init, doesn't).
RUNNING = """
import json
def running(pid):
    try:
        return open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
print(json.dumps([running(pid) for pid in {pids}]))
"""


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


shepherd_of = parent_of


def kill_and_reap(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()


def test_a_crashed_workers_command_is_killed_and_its_folder_removed_before_the_task_runs_again(
    tmp_path: Path, leftovers: list[int]
) -> None:
    worker, command, escaped = start_worker(tmp_path, grace=60.0, leftovers=leftovers)
    shepherd = shepherd_of(command)
    leftovers.append(shepherd)
    kill_and_reap(worker)
    # The worst case: the shepherd dies too (within its grace period), so nothing stops the command.
    os.kill(shepherd, signal.SIGKILL)
    wait_until(lambda: not is_alive(shepherd), what="the shepherd to die")
    work = tmp_path / "work"
    assert is_alive(command) and is_alive(escaped), "the orphans should still run: the test proves nothing"
    assert len(list(work.glob(f"*{MARKER_SUFFIX}"))) == 1

    # The same task again, as the orchestrator retries it after the crash: it must not overlap the old run.
    check = RUNNING.format(pids=[command, escaped])
    result = run(python(check, task_id="crashy"), tmp_path)
    assert result.succeeded, result.stderr_tail
    seen_alive = json.loads(result.stdout_tail)
    assert seen_alive == [False, False], "the new run started while the old one's processes were alive"
    assert not is_alive(command) and not is_alive(escaped)
    assert list(work.iterdir()) == [], "the dead run's folder and marker stay behind"


def test_a_crashed_worker_takes_its_commands_with_it_and_the_next_worker_removes_the_folder(
    tmp_path: Path, leftovers: list[int]
) -> None:
    worker, command, escaped = start_worker(tmp_path, grace=0.2, leftovers=leftovers)
    server = parent_of(shepherd_of(command))
    leftovers.append(server)
    kill_and_reap(worker)
    # The shepherd server sees its worker's socket end and exits; the shepherd sees the server die
    # (PR_SET_PDEATHSIG) and ends the run itself: SIGTERM, then SIGKILL.
    wait_until(lambda: not is_alive(server), what="the dead worker's shepherd server to exit")
    wait_until(lambda: not is_alive(command) and not is_alive(escaped), what="the dead worker's command to end")
    work = tmp_path / "work"
    assert len([p for p in work.iterdir() if p.is_dir()]) == 1
    (ended,) = recover_abandoned_runs(work)
    assert ended.task_id == "crashy"
    assert list(work.iterdir()) == []


def test_the_runs_of_a_live_worker_are_left_alone(tmp_path: Path) -> None:
    results: list[CommandResult] = []
    with cancel_when_ready(tmp_path) as cancel:
        started = tmp_path / "started"
        code = f"import time; open({str(started)!r}, 'w'); time.sleep(600)"
        runner = threading.Thread(target=lambda: results.append(run(python(code), tmp_path, cancel=cancel)))
        runner.start()
        try:
            wait_until(started.exists, what="the command to start")
            assert recover_abandoned_runs(tmp_path / "work") == []
            # Another run on the same work root, as another thread or worker process starts one.
            assert run(python("print('side by side')"), tmp_path, MemoryBlobs()).succeeded
            assert runner.is_alive()
        finally:
            (next(p for p in (tmp_path / "work").iterdir() if p.is_dir()) / "ready").touch()
            runner.join(60)
    (result,) = results
    assert result.cancelled


def test_a_live_workers_marker_is_read_once_however_many_runs_recover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    folder = work / "live-task-0123456789ab"
    RunMarker.for_this_worker("0123456789abcdef", "live-task", folder).write()
    reads: list[Path] = []
    real_read = command_runs._read

    def counting_read(path: Path) -> RunMarker | None:
        reads.append(path)
        return real_read(path)

    monkeypatch.setattr(command_runs, "_read", counting_read)
    for _ in range(5):
        assert recover_abandoned_runs(work) == []
    assert reads == [RunMarker.path_for(folder)]
    # A marker left by a worker that is gone is still read, and its run ended.
    dead = work / "dead-task-fedcba987654"
    replace(RunMarker.for_this_worker("fedcba9876543210", "dead-task", dead), worker_pid=2**22 + 1).write()
    (ended,) = recover_abandoned_runs(work)
    assert ended.task_id == "dead-task" and not RunMarker.path_for(dead).exists()
