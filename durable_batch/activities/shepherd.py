"""The supervisor of one command run: a small process between the worker and the command that outlives no one.

Each worker process starts one shepherd server, `python -I -S shepherd.py --serve SOCKET_FD` (standard library
only, so that it imports nothing a job could influence, and with an empty environment: nothing of the worker's
secrets), and asks it over a Unix socket for a shepherd per command run. The server forks one, which is much
cheaper than a fresh interpreter per command (one took about 14 ms of CPU to start on these cores, most of a
short command's cost), and answers with a pidfd of it, so that the worker can wait for it and signal it with no
chance of hitting a reused pid. A request carries four file descriptors: the run's config (`marshal` data: the
worker is the same Python), the run's stdout and stderr logs, and the status pipe. A shepherd:

- makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`), so every process the command starts, also one that
  calls `setsid` or double-forks, stays its descendant instead of escaping to init;
- asks for SIGTERM when the server dies (`PR_SET_PDEATHSIG`), and the server exits as soon as its worker's end
  of the socket closes, so a crashed worker's commands are stopped, not orphaned;
- reads the command (argv, environment, folder, user) from the config, not from its own argv or environment:
  the job's environment (think `LD_PRELOAD`) must reach the command, never this process, which runs with the
  worker's privileges;
- starts the command in a session of its own, as the configured user, and writes `started <pid>` to the status
  pipe (or `error <kind> <message>` when it could not start);
- when the command exits by itself, SIGKILLs whatever it left running; on SIGTERM (a time limit, a cancel, the
  worker's death) sends SIGTERM to every descendant, then SIGKILL after the grace period;
- exits only once it has no child left, alive or zombie, after writing `exit <code>` (negative: a signal).

So when a shepherd has exited, every process of its run is dead. Linux only (pidfds: kernel 5.3), as the
Functions Python workers are. The `/proc` readers here are also the worker's (see
`durable_batch/activities/process_tree.py`); the worker's side of the server is
`durable_batch/activities/shepherds.py`.
"""

from __future__ import annotations

import ctypes
import gc
import marshal
import os
import signal
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
_WAKE_SIGNALS = _STOP_SIGNALS | {signal.SIGCHLD}
_KILL_ROUND_SECONDS = 0.02
_IGNORED = tuple(signum for signum in sorted(signal.valid_signals()) if signal.getsignal(signum) == signal.SIG_IGN)
"""The signals this process ignores (from its start: it changes no disposition since), which a command's process
sets back to their default before its exec."""


def read_stat(pid: int) -> tuple[int, str, int] | None:
    """`(parent pid, state, start time in clock ticks since boot)` of a process, or None if there is none."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)  # a raw read: this runs for every process of the machine, at every command's end
    except OSError:
        return None
    finally:
        os.close(fd)
    # "pid (command name) state ppid ...": the name may hold spaces and parentheses, so split after the last ")".
    fields = data.rsplit(b")", 1)[-1].split()
    if len(fields) < 20:
        return None
    return int(fields[1]), fields[0].decode("ascii", "replace"), int(fields[19])


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
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            continue


_libc: ctypes.CDLL | None = None


def _prctl(option: int, value: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)  # once, in the server: every shepherd forked after has it
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}): {os.strerror(errno)}")


def command_paths(program: str, env: dict[str, str]) -> list[str]:
    """The paths `exec` tries for `program`, as `subprocess` (and `os.execvpe`) find them: the program itself
    when it names a folder, else each folder of the command's own PATH (an empty entry: the working folder).
    Found here, before the fork: `os.get_exec_path` imports `warnings`, which the command's uid may not read."""
    if os.sep in program:
        return [program]
    folders = env.get("PATH", os.defpath).split(os.pathsep)
    return [os.path.join(folder, program) for folder in folders]


def _start(config: dict[str, Any]) -> int:
    """Start the command as `subprocess.Popen` would with `start_new_session`, `user`, `group`, `extra_groups=[]`,
    `cwd`, `env` and stdin from /dev/null: its pid, or the `OSError` its start failed with (in the child, before
    or at `exec`, and sent back through a close-on-exec pipe that an `exec` that worked closes empty)."""
    user = config.get("user")
    argv, env, cwd = config["argv"], config["env"], config["cwd"]
    paths = command_paths(argv[0], env)
    failed, report = os.pipe()  # both close-on-exec
    pid = os.fork()
    if pid == 0:  # the child: only system calls from here to exec, no import, and never a return
        try:
            os.close(failed)
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            # The command gets stdout and stderr (this process's, the run's logs), nothing else of ours.
            os.closerange(3, report)
            os.closerange(report + 1, os.sysconf("SC_OPEN_MAX"))
            # Into the folder before the uid changes (its parents may be closed to that uid), as subprocess does.
            os.chdir(cwd)
            if user:
                os.setgroups([])
                os.setgid(user["gid"])
                os.setuid(user["uid"])
            # Ignored signals and the signal mask survive exec, and this process has both: Python ignores SIGPIPE
            # and SIGXFSZ, a worker started under nohup ignores SIGHUP, and this blocks its wake signals. The
            # command starts with every default (`yes | head` ends) and nothing blocked. (Handlers do not survive
            # exec: only the ignored signals need their default back.)
            for signum in _IGNORED:
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            first: OSError | None = None
            for path in paths:
                try:
                    os.execve(path, argv, env)
                except OSError as exc:
                    # As subprocess: the first failure other than "no such file" is the one to report.
                    if first is None or first.errno in (2, 20):  # ENOENT, ENOTDIR
                        first = exc
            if first is not None:
                raise first
        except OSError as exc:
            os.write(report, f"{exc.errno or 0}".encode())
        except BaseException as exc:
            os.write(report, f"0 {exc!r}".encode())
        finally:
            os._exit(127)
    os.close(report)
    answer = b""
    while chunk := os.read(failed, 512):
        answer += chunk
    os.close(failed)
    if answer:
        os.waitpid(pid, 0)
        number, _, text = answer.decode(errors="replace").partition(" ")
        errno = int(number)
        raise OSError(errno, text or os.strerror(errno)) if errno else OSError(text)
    return pid


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


def run(config: dict[str, Any], status: IO[str], parent: int) -> int:
    """Supervise one run (see the module): start the command, report, wait for every process of it to end."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _WAKE_SIGNALS)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
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
    except OSError as exc:
        _report(status, f"error oserror {exc}")
        return 0
    _report(status, f"started {leader}")
    code = _supervise(leader, float(config["grace"]))
    _report(status, f"exit {code if code is not None else -signal.SIGKILL}")
    return 0


REQUEST = b"run"
"""A request for a shepherd: with the config, stdout, stderr and status pipe as its four descriptors."""
_REAP_SECONDS = 0.5
"""How often an idle server reaps the shepherds that ended (their pidfds already told the worker)."""


def serve(fd: int) -> int:
    """The shepherd server: fork a shepherd for each request on the socket `fd` until its worker closes it."""
    import socket  # only the server needs it, once; a shepherd forked from it imports nothing

    server = os.getpid()
    # Every shepherd is a fork of this process: a collection in one would write to (and so copy) pages of
    # objects it never uses. Nothing here makes cycles that need collecting.
    gc.disable()
    gc.freeze()
    _prctl(PR_SET_CHILD_SUBREAPER, 0)  # (a no-op, to load the C library before the first fork)
    channel = socket.socket(fileno=fd)
    channel.settimeout(_REAP_SECONDS)
    # Shepherds are reaped here, between requests: never between a fork and the pidfd taken of it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    while True:
        _reap_ended()
        try:
            message, fds, _, _ = socket.recv_fds(channel, 64, 4)
        except TimeoutError:
            continue
        except OSError:
            return 0
        if not message:
            return 0  # the worker is gone: exiting sends every shepherd its SIGTERM (PR_SET_PDEATHSIG)
        if message != REQUEST or len(fds) != 4:
            for each in fds:
                os.close(each)
            channel.sendall(b"error malformed request")
            continue
        try:
            pid = os.fork()
        except OSError as exc:
            for each in fds:
                os.close(each)
            channel.sendall(f"error could not fork a shepherd: {exc}".encode())
            continue
        if pid == 0:
            code = 1
            try:
                channel.close()
                config, out, err, status = fds
                code = _shepherd(config, out, err, status, server)
            finally:
                os._exit(code)
        for each in fds:
            os.close(each)
        pidfd = os.pidfd_open(pid)
        try:
            socket.send_fds(channel, [f"started {pid}".encode()], [pidfd])
        except OSError:
            return 0
        finally:
            os.close(pidfd)


def _reap_ended() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _shepherd(config_fd: int, out: int, err: int, status_fd: int, server: int) -> int:
    """In a process forked from the server: become the run's shepherd."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    # The run's logs are this process's stdout and stderr, and so the command's.
    for source, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(source, target)
        os.close(source)
    config: dict[str, Any] = marshal.loads(os.pread(config_fd, os.fstat(config_fd).st_size, 0))
    os.close(config_fd)
    with os.fdopen(status_fd, "w", encoding="utf-8") as status:
        return run(config, status, server)


if __name__ == "__main__":
    if sys.argv[1:2] != ["--serve"] or len(sys.argv) != 3:
        sys.exit("usage: shepherd.py --serve SOCKET_FD")
    sys.exit(serve(int(sys.argv[2])))
