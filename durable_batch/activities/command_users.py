"""A uid of its own for each running command (`BATCH_COMMAND_USER` a range of uids, the default as root).

A command run as the worker's user can read the worker's secrets; run as one shared unprivileged user, it can
still read and signal the other commands running as that user, and leave a process or a file in `/tmp` for
the next one. So each command gets a uid no one else has while it runs, from a range of ids no account uses:

- a lock file per uid (`{work root}/.uids/{uid}`, `flock`) gives it to one run at a time across every worker
  process of the machine; a dead worker's lock goes with it;
- ids the user database knows are never used, so no real account's processes or files are ever touched;
- after the run, every process of the uid is killed (`kill(-1)` as that uid, which the kernel applies to all
  of them at once, so a fork bomb cannot outrun it), and what the uid left in the world-writable temporary
  folders is removed: nothing a command starts or leaves there outlives it. The same happens before a run,
  unless the uid's lock file says its last run ended that way (a worker that died mid-run did not say so).
  A run whose supervisor saw every process of it end (`UidLease.ended_whole`) skips the search for the uid's
  processes, which reads every process's status on the machine: only the run had the uid, and each of its
  processes stayed below its supervisor (a child subreaper) until it was dead, so there is none to find.

Linux only, and only when the worker runs as root (switching uids needs it).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from durable_batch.activities.shepherd import all_pids
from durable_batch.app.settings import CommandUids, CommandUser

__all__ = ["TEMP_FOLDERS", "UidLease", "UidsExhausted", "lease_uid", "processes_of", "uid_in_use_by_account"]

log = logging.getLogger(__name__)

TEMP_FOLDERS = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"))
"""World-writable folders where a command may leave files for the next user of its uid."""
_KILL_ROUNDS = 50
_CLEARED = b"cleared\n"
"""A uid's lock file holds this while the uid is known to have no process left (its last run ended cleared)."""


class UidsExhausted(RuntimeError):
    """Every uid of the range is in use by a running command (or known to the user database)."""


def uid_in_use_by_account(uid: int) -> bool:
    """Whether the user database knows `uid`: then it belongs to someone, and commands never get it."""
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def processes_of(uid: int) -> list[int]:
    """The processes whose real or effective uid is `uid`. Raw reads of each `/proc/{pid}/status`: this runs
    after every command, over every process of the machine, and text decoding made it four times as slow."""
    found: list[int] = []
    for pid in all_pids():
        try:
            fd = os.open(f"/proc/{pid}/status", os.O_RDONLY)
        except OSError:
            continue
        try:
            status = os.read(fd, 4096)  # "Uid:" is about the ninth line, well inside
        except OSError:
            continue
        finally:
            os.close(fd)
        at = status.find(b"\nUid:")
        if at < 0:
            continue
        real, effective = status[at + 5 : status.find(b"\n", at + 1)].split()[:2]
        if uid in (int(real), int(effective)):
            found.append(pid)
    return found


def _kill_all(uid: int) -> bool:
    """SIGKILL every process of `uid`: `kill -KILL -1` run as that uid signals all of them at once (but itself).
    False if some are still there after every round."""
    for _ in range(_KILL_ROUNDS):
        if not processes_of(uid):
            return True
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["/bin/sh", "-c", "kill -KILL -1"],
                user=uid,
                group=uid,
                extra_groups=[],
                env={},
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
        time.sleep(0.01)
    log.error("uid %s still has processes after %s rounds of SIGKILL: %s", uid, _KILL_ROUNDS, processes_of(uid))
    return False


def _sweep(uid: int, folders: tuple[Path, ...]) -> None:
    """Remove what `uid` left at the top of the world-writable temporary folders."""
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue


def _clear(uid: int, folders: tuple[Path, ...], *, search: bool = True) -> bool:
    """Kill the uid's processes (when `search`: none is known to be left) and sweep its files; whether no
    process of it was left."""
    killed = _kill_all(uid) if search else True
    _sweep(uid, folders)
    return killed


@dataclass
class UidLease:
    """A uid leased for one run (`user`: None when commands run as a set user or the worker's, with nothing to
    clear)."""

    user: CommandUser | None
    whole: bool = False

    def ended_whole(self) -> None:
        """The run's supervisor saw every process of the run end: its uid has none left to search for."""
        self.whole = True


@contextlib.contextmanager
def lease_uid(
    uids: CommandUids, work_root: Path, *, temp_folders: tuple[Path, ...] = TEMP_FOLDERS
) -> Iterator[UidLease]:
    """A uid of `uids` for one command run, to itself for as long as the block runs; its processes are killed
    and its temporary files removed before and after (see the module for a run that `ended_whole`).
    `UidsExhausted` when every uid is taken."""
    locks = work_root / ".uids"
    locks.mkdir(mode=0o700, parents=True, exist_ok=True)
    count = uids.last - uids.first + 1
    # Start at a different uid in each process, so that workers do not all try the same lock first.
    offset = os.getpid() % count
    for n in range(count):
        uid = uids.first + (offset + n) % count
        if uid_in_use_by_account(uid):
            continue
        fd = os.open(locks / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            # A run of a worker that died may have left processes or files under this uid; a run that ended
            # with the uid cleared said so in its lock file, and then nothing is left (only a leased uid runs
            # anything), so the clear is skipped: it reads every process's status, a large share of a command.
            if os.pread(fd, len(_CLEARED), 0) != _CLEARED:
                _clear(uid, temp_folders)
            os.ftruncate(fd, 0)
            lease = UidLease(CommandUser(f"uid {uid}", uid, uid))
            try:
                yield lease
            finally:
                # A run that ended whole left no process of the uid (see the module): no search for one.
                if _clear(uid, temp_folders, search=not lease.whole):
                    os.pwrite(fd, _CLEARED, 0)
        finally:
            os.close(fd)  # and with it the lock
        return
    raise UidsExhausted(
        f"all {count:,} uids of BATCH_COMMAND_USER ({uids.first}-{uids.last}) are in use by running commands; "
        "give a larger range"
    )
