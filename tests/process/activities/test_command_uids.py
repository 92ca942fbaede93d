"""Each command a uid of its own (`BATCH_COMMAND_USER` a range of uids, the default as root): two commands never
share one, neither reads the other's folder, and nothing a command starts or leaves in /tmp outlives it.

Switching uids needs root, so these tests run only as root (as CI does). The commands are shell scripts: the
test's own Python lies under /root, where the command's uid cannot go.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_batch.activities.command_runner import CommandResult, CommandTask
from durable_batch.activities.command_users import UidsExhausted, lease_uid, processes_of
from durable_batch.app.settings import DEFAULT_COMMAND_UIDS, CommandUids, Settings, SettingsError, command_identity
from tests.process.activities.command_support import is_alive, public_folder, run

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(os.geteuid() != 0, reason="running commands as other uids needs root (CI runs as root)"),
]


def free_uids(count: int) -> CommandUids:
    """A range of `count` uids no account and no process has, from the default range."""
    known = {entry.pw_uid for entry in pwd.getpwall()}
    for first in range(DEFAULT_COMMAND_UIDS.first, DEFAULT_COMMAND_UIDS.last - count):
        uids = range(first, first + count)
        if not any(uid in known or processes_of(uid) for uid in uids):
            return CommandUids(first, first + count - 1)
    raise AssertionError("no free uids")


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A work root's parent the commands' uids may traverse (pytest's own folders are 0700)."""
    with public_folder("batch-uids-test-") as folder:
        yield folder


def shell(script: str, *args: str) -> CommandTask:
    return CommandTask("t1", ["/bin/sh", "-c", script, "probe", *args])


def run_leased(uids: CommandUids, root: Path, task: CommandTask) -> CommandResult:
    with lease_uid(uids, root / "work") as lease:
        result = run(task, root, user=lease.user)
        if result.ended_whole:
            lease.ended_whole()
        return result


def test_the_setting_takes_a_range_the_worker_or_by_default_a_range_as_root() -> None:
    assert command_identity("", euid=0) == DEFAULT_COMMAND_UIDS
    assert command_identity("", euid=1000) is None  # only root can switch
    assert command_identity("@worker", euid=0) is None
    assert command_identity(" 70000-70009 ", euid=0) == CommandUids(70000, 70009)
    assert Settings.from_environ({"BATCH_COMMAND_USER": "@worker"}).command_user is None
    assert Settings.from_environ({}).command_user == DEFAULT_COMMAND_UIDS
    for bad in ("0-10", "20-10", "1-99999999999"):
        with pytest.raises(SettingsError, match="a range of uids must go up from 1"):
            command_identity(bad, euid=0)


def test_commands_running_together_get_uids_of_their_own_and_cannot_read_each_other(public_tmp: Path) -> None:
    uids = free_uids(4)
    script = (
        'echo "uid=$(id -u)"\n'
        "echo mine > note.txt\n"
        'echo "$BATCH_TASK_WORKING_DIR" > "$1/$(id -u)"\n'
        # Wait until the other command has written its folder's name, then try to read its note.
        'while [ "$(ls "$1" | wc -l)" -lt 2 ]; do sleep 0.01; done\n'
        'for f in "$1"/*; do [ "$f" = "$1/$(id -u)" ] || other=$(cat "$f"); done\n'
        'if cat "$other/note.txt" >/dev/null 2>&1; then echo other=read; else echo other=denied; fi\n'
    )
    meeting = public_tmp / "meeting"
    meeting.mkdir(mode=0o777)
    meeting.chmod(0o777)
    results: list[CommandResult] = []
    threads = [
        threading.Thread(target=lambda: results.append(run_leased(uids, public_tmp, shell(script, str(meeting)))))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2 and all(r.succeeded for r in results), [r.stderr_tail for r in results]
    seen = [dict(line.split("=", 1) for line in r.stdout_tail.split()) for r in results]
    assert {s["other"] for s in seen} == {"denied"}
    used = {int(s["uid"]) for s in seen}
    assert len(used) == 2 and all(uids.first <= uid <= uids.last for uid in used)


def test_nothing_a_command_starts_or_leaves_in_tmp_outlives_it(public_tmp: Path) -> None:
    uids = free_uids(1)
    # A background process that leaves the shepherd's reach as far as a command can: a new session, a cleared
    # environment (no run marker), double-forked.
    script = (
        "(setsid env -i /bin/sh -c 'echo $$ > /tmp/batch-uid-test-pid; exec sleep 600' &) \n"
        "while [ ! -s /tmp/batch-uid-test-pid ]; do sleep 0.01; done\n"
        "cat /tmp/batch-uid-test-pid\n"
        "echo left > /tmp/batch-uid-test-file-$(id -u)\n"
        "mkdir -p /dev/shm/batch-uid-test-dir-$(id -u)\n"
    )
    result = run_leased(uids, public_tmp, shell(script))
    assert result.succeeded, result.stderr_tail
    pid = int(result.stdout_tail.split()[0])
    assert not is_alive(pid)
    assert processes_of(uids.first) == []
    assert not Path("/tmp/batch-uid-test-pid").exists()
    assert not Path(f"/tmp/batch-uid-test-file-{uids.first}").exists()
    assert not Path(f"/dev/shm/batch-uid-test-dir-{uids.first}").exists()


@pytest.mark.parametrize("whole", [False, True])
def test_after_a_lease_its_temporary_files_go_and_unless_the_run_ended_whole_its_processes_too(
    public_tmp: Path, whole: bool
) -> None:
    uids = free_uids(1)
    left = Path(f"/tmp/batch-uid-lease-test-{uids.first}")
    with lease_uid(uids, public_tmp / "work") as lease:
        assert lease.user is not None
        # A process of the uid that no run started: found only by the search of every process's status.
        stranger = subprocess.Popen(["sleep", "600"], user=lease.user.uid, group=lease.user.gid, extra_groups=[])
        left.write_text("left")
        os.chown(left, lease.user.uid, lease.user.gid)
        if whole:
            lease.ended_whole()
    try:
        assert not left.exists()
        # A run that ended whole is taken at its word (only a run holds the uid, and its supervisor saw all of its
        # processes end), so the search is skipped; otherwise the uid's every process is killed.
        assert (stranger.poll() is None) == whole
    finally:
        stranger.kill()
        stranger.wait()


def test_uids_of_accounts_are_skipped_and_a_taken_range_says_so(public_tmp: Path) -> None:
    nobody = pwd.getpwnam("nobody").pw_uid
    with lease_uid(CommandUids(nobody, nobody + 1), public_tmp / "work") as lease:
        assert lease.user is not None and lease.user.uid == nobody + 1
        taken = rf"all 2 uids of BATCH_COMMAND_USER \({nobody}-{nobody + 1}\)"
        with pytest.raises(UidsExhausted, match=taken), lease_uid(CommandUids(nobody, nobody + 1), public_tmp / "work"):
            pass
    # Given back: the next run gets it again.
    started = time.monotonic()
    with lease_uid(CommandUids(nobody, nobody + 1), public_tmp / "work") as again:
        assert again.user is not None and again.user.uid == nobody + 1
    assert time.monotonic() - started < 5


def test_a_work_folder_the_uid_cannot_enter_is_named_in_the_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    result = run_leased(free_uids(1), tmp_path, shell("echo never"))
    assert result.exit_code is None and not result.succeeded
    assert result.error is not None
    assert f"cannot enter the work folder {(tmp_path / 'work').resolve()}" in result.error
    assert "closed to other users" in result.error and "BATCH_COMMAND_USER to @worker" in result.error


def test_a_uid_a_dead_worker_left_dirty_is_cleared_before_its_next_run(public_tmp: Path) -> None:
    """The clear before a run is skipped only when the uid's lock file says its last run ended cleared: a worker
    that died mid-run never wrote that, so what its command left running is killed before the next command."""
    uids = free_uids(1)
    assert run_leased(uids, public_tmp, shell("true")).succeeded
    lock = public_tmp / "work" / ".uids" / str(uids.first)
    assert lock.read_bytes() == b"cleared\n"
    # A run that never finished: its lock file emptied at the start, a process of the uid still there.
    lock.write_bytes(b"")
    leftover = subprocess.Popen(["sleep", "600"], user=uids.first, group=uids.first, extra_groups=[])
    # Reaped as soon as it dies, so it does not linger as this test's zombie (which the uid's clear would count).
    ended: list[int] = []
    reaper = threading.Thread(target=lambda: ended.append(leftover.wait()))
    reaper.start()
    try:
        assert processes_of(uids.first) == [leftover.pid]
        seen = run_leased(uids, public_tmp, shell("ps -o pid= -u $(id -u)"))
        reaper.join(timeout=10)
        assert ended == [-signal.SIGKILL]
        assert str(leftover.pid) not in seen.stdout_tail.split(), "killed before the command ran"
    finally:
        leftover.kill()
        reaper.join()
    assert lock.read_bytes() == b"cleared\n" and processes_of(uids.first) == []
