"""The README's quickstart, followed as written in a fresh copy of the repository: its files are taken from
the README's own code blocks, its commands run as subprocesses (`devtools.serve`, the `durable-batch` console
script, pytest), on a free port instead of 7071."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.testing import REPO_ROOT

pytestmark = pytest.mark.e2e

SECTION = "## Quickstart: your own first job"


def quickstart() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index(SECTION)
    end = readme.index("\n## ", start + len(SECTION))
    return readme[start:end]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", quickstart(), re.S)


def named_files() -> dict[str, str]:
    """The README's Python blocks that start with `# <path>`: the files the quickstart has you write."""
    files = {}
    for block in blocks("python"):
        first, _, _ = block.partition("\n")
        if first.startswith("# ") and first.endswith(".py"):
            files[first[2:].strip()] = block
    return files


def fresh_copy(target: Path) -> Path:
    """The repository's files as a clone has them (tracked and new, not ignored), with the shared Azurite."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / "node_modules").symlink_to((REPO_ROOT / "node_modules").resolve())
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def app_folder(tmp_path: Path) -> Iterator[Path]:
    yield fresh_copy(tmp_path / "my-batch")


def test_the_readme_quickstart_works_as_written(app_folder: Path) -> None:
    files = named_files()
    assert set(files) == {"my_tasks.py", "function_app.py", "tests/unit/test_my_tasks.py"}, files.keys()
    for name, text in files.items():
        (app_folder / name).write_text(text)
    (job_text,) = blocks("json")
    (app_folder / "job.json").write_text(job_text)
    assert "python -m devtools.serve" in quickstart() and "durable-batch job submit job.json --watch" in quickstart()

    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "devtools.serve", "--port", str(port)],
        cwd=app_folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={key: value for key, value in os.environ.items() if key != "AzureWebJobsStorage"},
    )
    pids: dict[str, int] = {}
    output: list[str] = []
    drain: threading.Thread | None = None
    try:
        assert serve.stdout is not None
        for line in serve.stdout:
            output.append(line)
            found = re.match(r"(Azurite|devhost) \(pid (\d+)\)", line)
            if found:
                pids[found.group(1)] = int(found.group(2))
            if line.startswith("Serving "):
                break
        assert line.startswith(f"Serving http://127.0.0.1:{port}"), "".join(output)
        assert set(pids) == {"Azurite", "devhost"}
        # The rest of its output (devhost's log) is read as it comes, so the pipe never fills and blocks it.
        stream = serve.stdout
        drain = threading.Thread(target=lambda: output.extend(stream), daemon=True)
        drain.start()

        cli = Path(sys.executable).with_name("durable-batch")
        env = {**os.environ, "DURABLE_BATCH_URL": f"http://localhost:{port}", "COLUMNS": "200", "NO_COLOR": "1"}
        env.pop("AzureWebJobsStorage", None)

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(cli), *args], cwd=app_folder, env=env, capture_output=True, text=True, timeout=120, check=False
            )

        submitted = run("job", "submit", "job.json", "--watch")
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        assert "hello-1" in submitted.stdout and "succeeded" in submitted.stdout
        shown = run("task", "show", "hello-1", "ada", "-o", "json")
        task = json.loads(shown.stdout)
        assert task["definition"]["input"] == {"name": "Ada"} and task["result"] == {"greeting": "Hello, Ada!"}
        assert "Hello, Ada!" in run("task", "show", "hello-1", "ada").stdout
        downloaded = run("results", "download", "hello-1", "--out", "results")
        assert downloaded.returncode == 0, downloaded.stderr
        assert json.loads((app_folder / "results" / "summary.json").read_text())["state"] == "succeeded"
        rows = [
            json.loads(line)
            for path in (app_folder / "results" / "results").glob("*.jsonl")
            for line in path.read_text().splitlines()
        ]
        assert sorted(row["result"]["greeting"] for row in rows) == ["Hello, Ada!", "Hello, Alan!"]

        tested = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/unit/test_my_tasks.py", "-q", "-p", "no:cacheprovider"],
            cwd=app_folder,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert tested.returncode == 0 and "1 passed" in tested.stdout, tested.stdout + tested.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(timeout=60)
        if drain is not None:
            drain.join(timeout=10)
        if serve.stdout is not None:
            serve.stdout.close()
    assert code == 0, "".join(output)
    assert not any(alive(pid) for pid in pids.values()), "SIGTERM stops Azurite and devhost too"
