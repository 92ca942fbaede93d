"""Commands run as a separate, unprivileged OS user (`BATCH_COMMAND_USER`): the worker's files and environment
are out of their reach, their folder is theirs alone, and files still go in and out.

Switching users needs root, so these tests run only as root (as CI does); they create a throwaway system user
when it is missing and remove it afterwards.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_batch.activities.command_runner import CommandTask
from durable_batch.app.settings import CommandUser, Settings, SettingsError
from tests.process.activities.command_support import (
    PREFIX,
    MemoryBlobs,
    cancel_when_ready,
    is_alive,
    public_folder,
    run,
)

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(os.geteuid() != 0, reason="running commands as another user needs root (CI runs as root)"),
]

USER = "batch-cmd-test"
# The commands here are shell scripts: the test's own Python may lie in a folder the command user can't enter
# (a virtual environment or pyenv under /root), while /bin/sh and coreutils are everywhere.


def shell(script: str, *args: str, **fields: Any) -> CommandTask:
    return CommandTask("t1", ["/bin/sh", "-c", script, "probe", *args], **fields)


def fields_of(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def command_user() -> Iterator[CommandUser]:
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
        created = True
    try:
        yield CommandUser.resolve(USER)
    finally:
        if created:
            subprocess.run(["userdel", USER], check=True)


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A folder the command user may traverse (pytest's own are 0700), as a real work root's parents are."""
    with public_folder("batch-user-test-") as folder:
        yield folder


PROBE = """
attempt() { if cat "$1" >/dev/null 2>&1; then echo read; else echo denied; fi; }
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(sed -n 's/^Groups:[[:space:]]*//p' /proc/self/status)"
echo "secret=$(attempt "$1")"
echo "worker_environ=$(attempt /proc/$2/environ)"
echo "parent_environ=$(attempt /proc/$PPID/environ)"
echo "folder=$(stat -c '%u %a' .)"
echo "home=$HOME"
echo "cwd=$(pwd -P)"
echo "user=$USER"
"""


def test_a_command_runs_as_the_user_and_cannot_read_the_workers_files_or_environment(
    command_user: CommandUser, public_tmp: Path
) -> None:
    secret = public_tmp / "worker-only.txt"
    secret.write_text("the worker's secret")
    secret.chmod(0o600)
    task = shell(PROBE, str(secret), str(os.getpid()))
    result = run(task, public_tmp, user=command_user)
    assert result.succeeded, result.stderr_tail
    seen = fields_of(result.stdout_tail)
    assert (seen["uid"], seen["gid"], seen["groups"]) == (str(command_user.uid), str(command_user.gid), "")
    assert seen["secret"] == "denied"
    # The worker's environment holds the storage connection string; the shepherd runs as the worker's user.
    assert seen["worker_environ"] == "denied"
    assert seen["parent_environ"] == "denied"
    assert seen["folder"] == f"{command_user.uid} 700"
    assert seen["home"] == seen["cwd"] and seen["user"] == command_user.name
    # As the worker's own user, the same command reads both: that is what the separate user is for.
    as_worker = fields_of(run(task, public_tmp).stdout_tail)
    assert (as_worker["secret"], as_worker["worker_environ"]) == ("read", "read")


def test_resource_and_output_files_work_as_the_user(command_user: CommandUser, public_tmp: Path) -> None:
    blobs = MemoryBlobs({"in/data.txt": b"hello", "in/tool.sh": b"tr a-z A-Z"})
    script = (
        "set -e\n"
        "mkdir -p out/deep\n"
        "sh tools/tool.sh < inputs/data.txt > out/deep/upper.txt\n"
        'printf absolute > "$BATCH_TASK_WORKING_DIR/out/abs.txt"\n'
    )
    task = shell(
        script,
        resource_files=[("in/data.txt", "inputs/data.txt"), ("in/tool.sh", "tools/tool.sh")],
        output_files=["out/**/*.txt"],
    )
    result = run(task, public_tmp, blobs, user=command_user)
    assert result.succeeded, result.stderr_tail
    assert blobs.uploads == {PREFIX + "out/deep/upper.txt": b"HELLO", PREFIX + "out/abs.txt": b"absolute"}
    assert list((public_tmp / "work").iterdir()) == []


def test_the_users_setsid_grandchild_is_killed_on_cancel(command_user: CommandUser, public_tmp: Path) -> None:
    script = (
        "trap '' TERM\n"
        "setsid sh -c 'echo $$ > grandchild.pid; exec sleep 600' &\n"
        "while [ ! -s grandchild.pid ]; do sleep 0.01; done\n"
        "cat grandchild.pid\n"
        "touch ready\n"
        "sleep 600\n"
    )
    with cancel_when_ready(public_tmp) as cancel:
        result = run(shell(script), public_tmp, cancel=cancel, kill_grace_seconds=0.2, user=command_user)
    assert result.cancelled, result
    assert not is_alive(int(result.stdout_tail.split()[0]))


def test_the_setting_names_a_user_or_a_uid_and_never_root(command_user: CommandUser) -> None:
    assert Settings.from_environ({"BATCH_COMMAND_USER": USER}).command_user == command_user
    assert CommandUser.resolve(str(command_user.uid)) == command_user
    assert Settings.from_environ({"BATCH_COMMAND_USER": "@worker"}).command_user is None
    known = {entry.pw_uid for entry in pwd.getpwall()}
    bare = next(uid for uid in range(64000, 65000) if uid not in known)
    assert CommandUser.resolve(str(bare)) == CommandUser(str(bare), bare, bare)
    with pytest.raises(SettingsError, match="useradd --system --no-create-home no-such-user-here"):
        CommandUser.resolve("no-such-user-here")
    for root in ("root", "0"):
        with pytest.raises(SettingsError, match="unprivileged user, not root"):
            CommandUser.resolve(root)
