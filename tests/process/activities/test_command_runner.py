"""Command tasks run as real subprocesses of this Python, with blob storage replaced by an in-memory fake.

The time-limit and cancel tests wait for real processes (about half a second each): that is what they test.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest

from durable_batch.activities.command_runner import (
    CommandTask,
    CommandTaskError,
    validate_command_task,
)
from tests.process.activities.command_support import (
    PREFIX,
    PY,
    MemoryBlobs,
    assert_work_root_empty,
    cancel_when_ready,
    python,
    run,
    wait_gone,
)

pytestmark = pytest.mark.process


# Spawns a child that sleeps for a minute, prints its pid, then does `then`.
SPAWN_CHILD = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
{then}
"""


# --- outcomes -------------------------------------------------------------------------------------


def test_success(tmp_path: Path) -> None:
    result = run(python("print('hello'); import sys; print('warn', file=sys.stderr)"), tmp_path)
    assert result.succeeded
    assert result.exit_code == 0
    assert (result.timed_out, result.cancelled, result.error) == (False, False, None)
    assert result.stdout_tail == "hello\n"
    assert result.stderr_tail == "warn\n"
    assert result.output_files == []
    assert 0 < result.duration_seconds < 30
    assert_work_root_empty(tmp_path)


def test_non_zero_exit(tmp_path: Path) -> None:
    result = run(python("import sys; print('bad input', file=sys.stderr); sys.exit(3)"), tmp_path)
    assert not result.succeeded
    assert result.exit_code == 3
    assert result.stderr_tail == "bad input\n"
    assert result.error is None


def test_runs_without_a_shell(tmp_path: Path) -> None:
    task = CommandTask("t1", [PY, "-c", "import sys; print(sys.argv[1])", "$HOME; echo `id` | cat"])
    assert run(task, tmp_path).stdout_tail == "$HOME; echo `id` | cat\n"


def test_command_not_found_is_a_result(tmp_path: Path) -> None:
    result = run(CommandTask("t1", ["no-such-command-for-batch-tests", "x"]), tmp_path)
    assert not result.succeeded
    assert result.exit_code is None
    assert result.error is not None
    assert "command not found: 'no-such-command-for-batch-tests'" in result.error
    assert_work_root_empty(tmp_path)


def test_command_not_executable_is_a_result(tmp_path: Path) -> None:
    blobs = MemoryBlobs({"scripts/run.sh": b"#!/bin/sh\necho hi\n"})
    task = CommandTask("t1", ["./run.sh"], resource_files=[("scripts/run.sh", "run.sh")])
    result = run(task, tmp_path, blobs)
    assert result.exit_code is None
    assert result.error == "command is not executable: './run.sh'"


def test_a_command_starts_with_only_its_three_streams_and_the_default_signals(tmp_path: Path) -> None:
    """What the shepherd's own fork and exec must give a command, as subprocess would: nothing open of the
    shepherd's (its status pipe above all: a command that could write to it could report a fake exit), stdin
    from /dev/null, no signal ignored or blocked (SIGPIPE ignored would keep `yes | head` running)."""
    code = (
        "import json, os, signal, sys\n"
        "fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))\n"
        "status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines())\n"
        "print(json.dumps({'fds': fds, 'stdin': os.readlink('/proc/self/fd/0'), 'ignored': status['SigIgn'],"
        " 'blocked': status['SigBlk'], 'session': os.getsid(0) == os.getpid()}))\n"
    )
    # `python -S -I` would ignore SIGPIPE itself: read what the command got before Python starts, via sh.
    shell = CommandTask("t1", ["/bin/sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status; yes | head -n 1"])
    seen = run(shell, tmp_path)
    assert seen.exit_code == 0, seen
    lines = dict(line.split(":\t") for line in seen.stdout_tail.splitlines()[:2])
    assert int(lines["SigBlk"], 16) == 0 and int(lines["SigIgn"], 16) == 0, lines
    assert seen.stdout_tail.splitlines()[2] == "y"
    result = run(python(code), tmp_path)
    facts = json.loads(result.stdout_tail)
    # 0, 1, 2, and the one listdir opens to read the folder.
    assert len(facts["fds"]) == 4 and facts["fds"][:3] == [0, 1, 2], facts
    assert facts["stdin"] == "/dev/null" and facts["session"] is True


# --- output tails ---------------------------------------------------------------------------------


def test_tails_keep_the_last_64_kib(tmp_path: Path) -> None:
    code = "import sys\nsys.stdout.write('a' * 300_000 + 'END-OUT')\nsys.stderr.write('b' * 200_000 + 'END-ERR')\n"
    result = run(python(code), tmp_path)
    assert len(result.stdout_tail.encode()) == 64 * 1024
    assert len(result.stderr_tail.encode()) == 64 * 1024
    assert result.stdout_tail.endswith("aEND-OUT")
    assert result.stderr_tail.endswith("bEND-ERR")


def test_a_run_after_a_chatty_one_in_the_same_folder_has_only_its_own_output(tmp_path: Path) -> None:
    chatty = run(python("import sys; print('x' * 100_000); print('oops', file=sys.stderr)"), tmp_path)
    assert chatty.succeeded and len(chatty.stdout_tail) == 64 * 1024
    quiet = run(python("print('mine')"), tmp_path)
    assert (quiet.stdout_tail, quiet.stderr_tail) == ("mine\n", "")


def test_tail_size_is_configurable_and_short_output_is_whole(tmp_path: Path) -> None:
    result = run(python("print('x' * 50 + 'tail')"), tmp_path, tail_bytes=10)
    assert result.stdout_tail == "xxxxx" + "tail\n"
    assert run(python("print('short')"), tmp_path, tail_bytes=10).stdout_tail == "short\n"


def test_tail_does_not_start_inside_a_utf8_character(tmp_path: Path) -> None:
    # 'é' is two bytes; an odd limit cuts one in half.
    result = run(python("import sys; sys.stdout.buffer.write('é'.encode() * 100)"), tmp_path, tail_bytes=11)
    assert result.stdout_tail == "é" * 5


def test_undecodable_output_is_replaced_not_fatal(tmp_path: Path) -> None:
    result = run(python("import sys; sys.stdout.buffer.write(b'ok\\xff\\xfe')"), tmp_path)
    assert result.stdout_tail == "ok\ufffd\ufffd"


# --- time limit and cancel ------------------------------------------------------------------------


def test_time_limit_kills_the_command_and_its_children(tmp_path: Path) -> None:
    task = python(SPAWN_CHILD.format(then="time.sleep(60)"), timeout_seconds=0.5)
    started = time.monotonic()
    result = run(task, tmp_path, kill_grace_seconds=2.0)
    assert time.monotonic() - started < 30  # loose: a limit that isn't enforced would take the full minute
    assert result.timed_out
    assert not result.succeeded
    assert result.exit_code == -signal.SIGTERM
    assert result.error == "time limit of 0.5 s exceeded; the command was killed"
    child = int(result.stdout_tail.split()[0])
    assert wait_gone(child), f"child {child} survived the time limit"
    assert_work_root_empty(tmp_path)


def test_a_command_that_ignores_sigterm_gets_sigkill(tmp_path: Path) -> None:
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nopen('ready', 'w')\ntime.sleep(60)"
    with cancel_when_ready(tmp_path) as cancel:
        result = run(python(code), tmp_path, cancel=cancel, kill_grace_seconds=0.3)
    assert result.cancelled
    assert result.exit_code == -signal.SIGKILL


def test_a_command_that_exits_zero_on_sigterm_still_timed_out(tmp_path: Path) -> None:
    code = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\ntime.sleep(60)"
    # A longer limit than the others, so that the handler is surely installed when it strikes.
    result = run(python(code, timeout_seconds=1.5), tmp_path)
    assert result.exit_code == 0
    assert result.timed_out
    assert not result.succeeded


def test_children_left_running_after_a_normal_exit_are_killed(tmp_path: Path) -> None:
    result = run(python(SPAWN_CHILD.format(then="")), tmp_path)
    assert result.succeeded
    child = int(result.stdout_tail.split()[0])
    assert wait_gone(child), f"child {child} outlived its task"


def test_cancel_kills_the_command_and_uploads_nothing(tmp_path: Path) -> None:
    code = SPAWN_CHILD.format(then="open('out.txt', 'w').write('partial'); open('ready', 'w'); time.sleep(60)")
    blobs = MemoryBlobs()
    with cancel_when_ready(tmp_path) as cancel:
        result = run(python(code, output_files=["*.txt"]), tmp_path, blobs, cancel=cancel)
    assert result.cancelled
    assert not result.timed_out
    assert not result.succeeded
    assert result.error == "cancelled; the command was killed"
    assert blobs.uploads == {}
    assert wait_gone(int(result.stdout_tail.split()[0]))
    assert_work_root_empty(tmp_path)


def test_cancel_before_start_runs_nothing(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    blobs = MemoryBlobs({"in.txt": b"x"})
    task = python("open('ran', 'w')", resource_files=[("in.txt", "in.txt")])
    result = run(task, tmp_path, blobs, cancel=cancel)
    assert result.cancelled
    assert result.exit_code is None
    assert blobs.downloads == []
    assert_work_root_empty(tmp_path)


# --- working folder, resource files, environment --------------------------------------------------


def test_resource_files_are_downloaded_into_the_folder_first(tmp_path: Path) -> None:
    blobs = MemoryBlobs(
        {
            "inputs/render.py": b"print(open('data/in/frame.txt').read().upper())",
            "inputs/frame.txt": b"frame 12",
        }
    )
    task = CommandTask(
        "render-12",
        [PY, "render.py"],
        resource_files=[("inputs/render.py", "render.py"), ("inputs/frame.txt", "data/in/frame.txt")],
    )
    result = run(task, tmp_path, blobs)
    assert result.succeeded, result.stderr_tail
    assert result.stdout_tail == "FRAME 12\n"
    assert blobs.downloads == ["inputs/render.py", "inputs/frame.txt"]


def test_a_missing_resource_blob_raises_and_cleans_up(tmp_path: Path) -> None:
    task = python("pass", resource_files=[("inputs/missing.bin", "missing.bin")])
    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        run(task, tmp_path)
    assert_work_root_empty(tmp_path)


def test_environment_and_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_HOST", "inherited")
    code = (
        "import json, os\n"
        "print(json.dumps({k: os.environ.get(k) for k in "
        "['FROM_HOST', 'QUALITY', 'BATCH_TASK_ID', 'BATCH_TASK_WORKING_DIR', 'BATCH_TASK_RUN_ID']}"
        " | {'cwd': os.getcwd()}))"
    )
    task = python(
        code,
        task_id="render-12",
        environment={"QUALITY": "high", "BATCH_TASK_ID": "spoofed", "BATCH_TASK_RUN_ID": "spoofed"},
    )
    seen = json.loads(run(task, tmp_path).stdout_tail)
    assert seen["FROM_HOST"] == "inherited"
    assert seen["QUALITY"] == "high"
    assert seen["BATCH_TASK_ID"] == "render-12"
    assert seen["BATCH_TASK_WORKING_DIR"] == seen["cwd"]
    assert seen["BATCH_TASK_RUN_ID"] != "spoofed" and len(seen["BATCH_TASK_RUN_ID"]) == 32
    folder = Path(seen["cwd"])
    assert folder.parent == (tmp_path / "work").resolve()
    assert folder.name.startswith("render-12-")
    assert not folder.exists()


def test_each_run_gets_a_fresh_folder(tmp_path: Path) -> None:
    code = "import os; print(os.getcwd()); print(sorted(os.listdir('.'))); open('left-behind', 'w')"
    first = run(python(code), tmp_path).stdout_tail.splitlines()
    second = run(python(code), tmp_path).stdout_tail.splitlines()
    assert first[0] != second[0]
    assert first[1] == second[1] == "[]"
    assert_work_root_empty(tmp_path)


def test_read_only_leftovers_are_still_removed(tmp_path: Path) -> None:
    code = "import os\nos.makedirs('locked/inner')\nopen('locked/inner/f', 'w')\nos.chmod('locked', 0o500)"
    assert run(python(code), tmp_path).succeeded
    assert_work_root_empty(tmp_path)


# --- output files ---------------------------------------------------------------------------------

MAKE_OUTPUTS = """
import os
os.makedirs('out/sub')
for name, text in [('out/a.png', 'A'), ('out/b.png', 'B'), ('out/sub/c.png', 'C'), ('out/skip.txt', 'S'),
                   ('notes.txt', 'N'), ('out/sub/deep.txt', 'D')]:
    open(name, 'w').write(text)
"""


def test_output_globs_are_uploaded_under_the_prefix(tmp_path: Path) -> None:
    blobs = MemoryBlobs()
    task = python(MAKE_OUTPUTS, output_files=["out/*.png", "**/*.txt", "out/a.png", "nothing/*"])
    result = run(task, tmp_path, blobs)
    expected = {
        "out/a.png": b"A",
        "out/b.png": b"B",
        "notes.txt": b"N",
        "out/skip.txt": b"S",
        "out/sub/deep.txt": b"D",
    }
    assert blobs.uploads == {PREFIX + name: data for name, data in expected.items()}
    assert sorted(result.output_files) == sorted(PREFIX + name for name in expected)
    assert len(result.output_files) == len(set(result.output_files))


def test_recursive_glob(tmp_path: Path) -> None:
    blobs = MemoryBlobs()
    run(python(MAKE_OUTPUTS, output_files=["out/**/*.png"]), tmp_path, blobs)
    assert sorted(blobs.uploads) == [PREFIX + "out/a.png", PREFIX + "out/b.png", PREFIX + "out/sub/c.png"]


def test_outputs_are_uploaded_when_the_command_fails(tmp_path: Path) -> None:
    blobs = MemoryBlobs()
    result = run(
        python("open('error.log', 'w').write('why'); raise SystemExit(2)", output_files=["*.log"]), tmp_path, blobs
    )
    assert result.exit_code == 2
    assert blobs.uploads == {PREFIX + "error.log": b"why"}


def test_hard_links_are_not_uploaded(tmp_path: Path) -> None:
    # Made as root, a hard link can name any file of the same file system; the folder can't tell it from its own.
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload")
    code = (
        f"import os\nos.link({str(secret)!r}, 'leak.txt')\n"
        "open('mine.txt', 'w').write('x')\nos.link('mine.txt', 'also-mine.txt')\nopen('ok.txt', 'w')"
    )
    blobs = MemoryBlobs()
    result = run(python(code, output_files=["*.txt"]), tmp_path, blobs)
    assert result.succeeded, result.stderr_tail
    # A file linked twice inside the folder is refused too: one name is all the check can see.
    assert sorted(blobs.uploads) == [PREFIX + "ok.txt"]
    assert secret.read_text() == "do not upload"


def test_symlinks_out_of_the_folder_are_not_uploaded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload")
    code = f"import os\nos.symlink({str(secret)!r}, 'leak.txt')\nos.symlink('.', 'loop')\nopen('ok.txt', 'w')"
    blobs = MemoryBlobs()
    run(python(code, output_files=["*.txt"]), tmp_path, blobs)
    assert sorted(blobs.uploads) == [PREFIX + "ok.txt"]


# --- refusing malformed tasks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (CommandTask("t1", [PY], resource_files=[("b", "../x.py")]), "resourceFiles[0].path: '../x.py' must not"),
        (CommandTask("t1", [PY], resource_files=[("b", "a/../../x")]), "must not contain '..'"),
        (CommandTask("t1", [PY], resource_files=[("b", "/etc/cron.d/x")]), "not an absolute one"),
        (CommandTask("t1", [PY], resource_files=[("b", "C:/x")]), "not an absolute one"),
        (CommandTask("t1", [PY], resource_files=[("b", "..\\x")]), "must not contain '..'"),
        (CommandTask("t1", [PY], resource_files=[("b", "")]), "must not be empty"),
        (CommandTask("t1", [PY], resource_files=[("b", "dir/")]), "must not have empty segments"),
        (CommandTask("t1", [PY], resource_files=[("b", "dir/.")]), "must not have '.' segments"),
        (CommandTask("t1", [PY], resource_files=[("../b", "x")]), "resourceFiles[0].blob: '../b' must not contain"),
        (CommandTask("t1", [PY], resource_files=[("a\\b", "x")]), "resourceFiles[0].blob: 'a\\\\b' must separate"),
        (CommandTask("t1", [PY], output_files=["../*"]), "outputFiles[0]: '../*' must not contain '..'"),
        (CommandTask("t1", [PY], output_files=["/tmp/**"]), "outputFiles[0]: '/tmp/**' must be a relative path"),
        (CommandTask("t1", []), "commandLine: must not be empty"),
        (CommandTask("t1", "python3 run.py"), "not a string"),
        (CommandTask("t1", [PY], environment={"A=B": "x"}), "'A=B' is not a valid variable name"),
        (CommandTask("t1", [PY], timeout_seconds=0), "timeoutSeconds: must be more than 0"),
    ],
)
def test_malformed_tasks_are_refused_before_anything_runs(task: CommandTask, message: str, tmp_path: Path) -> None:
    assert any(message in problem for problem in validate_command_task(task))
    blobs = MemoryBlobs({"b": b"x"})
    with pytest.raises(CommandTaskError, match="command task 't1'") as info:
        run(task, tmp_path, blobs)
    assert message in str(info.value)
    assert blobs.downloads == []
    assert not (tmp_path / "work").exists() or not list((tmp_path / "work").iterdir())


def test_all_problems_are_reported_together() -> None:
    task = CommandTask("t1", [], resource_files=[("b", "/x")], output_files=["../y"])
    assert len(validate_command_task(task)) == 3


def test_a_valid_task_has_no_problems() -> None:
    task = CommandTask(
        "t1", [PY, "x.py"], resource_files=[("b", "sub/x.py")], output_files=["out/**/*"], timeout_seconds=5
    )
    assert validate_command_task(task) == []


SECRETS = {
    "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountKey=abc",
    "AzureWebJobsSecretStorageType": "files",
    "MY_API_KEY": "k",
    "DB_PASSWORD": "p",
    "LEGACY_DB_PASSWD": "p",
    "MYSQL_PWD": "p",
    "GPG_PASSPHRASE": "p",
    "GITHUB_TOKEN": "t",
    "IDENTITY_ENDPOINT": "http://localhost:42356/msi/token",
    "IDENTITY_HEADER": "h",
    "MSI_ENDPOINT": "http://localhost:42356/msi/token",
    "MSI_SECRET": "s",
    "AZURE_CLIENT_ID": "id",
    "AZURE_CLIENT_SECRET": "s",
    "AZURE_TENANT_ID": "t",
    "ORDERS_CONNSTR": "Server=db;Password=p",
    "CACHE_CONN_STR": "redis://:p@cache",
    "SERVICEBUS_CONNECTION": "Endpoint=sb://x;SharedAccessKey=k",
    "SENTRY_DSN": "https://key@sentry.example/1",
    "BLOB_SAS": "sv=2020&sig=x",
    "APPSETTING_ANYTHING": "a copy of an app setting",
    "HTTP_AUTHORIZATION": "Bearer x",
}


def test_commands_do_not_inherit_the_workers_secrets() -> None:
    from durable_batch.activities.command_runner import inherited_environment

    plain = {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "FUNCTIONS_WORKER_RUNTIME": "python"}
    folders = {"PWD": "/home/site/wwwroot", "OLDPWD": "/"}
    assert inherited_environment({**plain, **SECRETS, **folders}) == plain


def test_a_command_sees_none_of_the_secrets_and_its_own_folder_as_pwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**SECRETS, "PWD": "/somewhere/else", "OLDPWD": "/"}.items():
        monkeypatch.setenv(name, value)
    seen = json.loads(
        run(python("import json, os; print(json.dumps({**os.environ, 'cwd': os.getcwd()}))"), tmp_path).stdout_tail
    )
    assert not set(SECRETS) & set(seen)
    assert seen["PWD"] == seen["cwd"] == seen["BATCH_TASK_WORKING_DIR"]
    assert "OLDPWD" not in seen
