"""The shepherd server (`durable_batch/activities/shepherds.py`): one per worker process, holding nothing of the
worker's environment, started again when it died, never shared with a forked child, and gone with its worker.

Real processes: commands run through `run_command` in this process (the test is the worker) or in a worker
process of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from durable_batch.activities.shepherd import REQUEST
from tests.process.activities.command_support import is_alive, python, run, wait_gone

pytestmark = pytest.mark.process

REPO = Path(__file__).resolve().parents[3]
SERVER = REPO / "durable_batch" / "activities" / "shepherd.py"

# Prints the pids of the command's shepherd and of the shepherd's parent (the server).
LINEAGE = """
import os
def parent(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("PPid:"):
            return int(line.split()[1])
shepherd = os.getppid()
print(shepherd, parent(shepherd))
"""


def lineage(tmp_path: Path) -> tuple[int, int]:
    result = run(python(LINEAGE), tmp_path)
    assert result.succeeded, result.stderr_tail
    shepherd, server = (int(pid) for pid in result.stdout_tail.split())
    return shepherd, server


def parent_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


def test_one_server_of_this_worker_forks_every_shepherd_and_holds_none_of_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "AccountKey=secret")
    first_shepherd, server = lineage(tmp_path)
    second_shepherd, same_server = lineage(tmp_path)
    assert server == same_server and first_shepherd != second_shepherd
    assert parent_of(server) == os.getpid()
    # The server (and so every shepherd forked from it) has no environment at all: none of the worker's secrets.
    assert Path(f"/proc/{server}/environ").read_bytes() == b""
    assert not is_alive(first_shepherd) and not is_alive(second_shepherd)


def test_a_server_that_died_is_started_again(tmp_path: Path) -> None:
    _, server = lineage(tmp_path)
    os.kill(server, signal.SIGKILL)
    assert wait_gone(server)
    _, new_server = lineage(tmp_path)
    assert new_server != server and is_alive(new_server)


# A worker that runs a command, forks, and runs one in each process: each prints the server its command had.
FORKING_WORKER = """
import os, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from durable_batch.activities.command_runner import CommandTask, run_command

class NoBlobs:
    def download_to_file(self, blob_name, path): raise AssertionError(blob_name)
    def upload_file(self, path, blob_name): raise AssertionError(blob_name)

def server():
    result = run_command(CommandTask("t", [sys.executable, "-c", {code!r}]), work_root=Path({root!r}),
                         transfer=NoBlobs(), output_prefix="p/")
    assert result.succeeded, result
    return result.stdout_tail.split()[1]

before = server()
child = os.fork()
if child == 0:
    print("child", server(), flush=True)
    os._exit(0)
os.waitpid(child, 0)
print("parent", before, server(), flush=True)
"""


def test_a_forked_worker_starts_a_server_of_its_own_and_leaves_its_parents_alone(tmp_path: Path) -> None:
    source = FORKING_WORKER.format(repo=str(REPO), code=LINEAGE, root=str(tmp_path / "work"))
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    before, after = lines["parent"].split()
    assert before == after, "the parent's server should have served it before and after the fork"
    assert lines["child"] != before, "the forked child must not use its parent's server"


def test_the_server_refuses_a_malformed_request_and_goes_on(tmp_path: Path) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server = subprocess.Popen(
        [sys.executable, "-I", "-S", str(SERVER), "--serve", str(theirs.fileno())], pass_fds=(theirs.fileno(),), env={}
    )
    theirs.close()
    try:
        with open(os.devnull, "rb") as null:
            socket.send_fds(ours, [REQUEST], [null.fileno()])  # one descriptor of the four
        assert ours.recv(512).startswith(b"error malformed request")
        ours.send(b"nonsense")
        assert ours.recv(512).startswith(b"error malformed request")
        assert server.poll() is None
    finally:
        ours.close()  # the worker's end closed: the server exits by itself
        assert server.wait(timeout=10) == 0
