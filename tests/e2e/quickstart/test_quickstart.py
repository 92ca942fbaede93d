"""The README's quickstart, followed as written in an empty folder: the wheel this checkout builds
(`scripts/build-wheel`) installed in a virtual environment of the app's own, the files taken from the README's
code blocks, its commands run as subprocesses (the `devhost` and `durable-batch` console scripts as installed,
pytest) on a free port instead of 7071.

No network here: the wheel goes in with `--no-index`, and the libraries it needs (and pytest) come from the
environment running this test, which the app's environment sees through a `.pth` file; `npm install azurite`
becomes a link to this checkout's `node_modules`. The framework itself is only the wheel's: the app's Python
imports nothing from this checkout (checked)."""

from __future__ import annotations

import json
import os
import re
import signal
import site
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost.azurite import free_port
from devhost.testing import REPO_ROOT
from tests.e2e.jobs.support import process_is_gone

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
    """The README's blocks that start with `# <path>`: the files the quickstart has you write."""
    files = {}
    for block in blocks("python") + blocks("text"):
        first, _, _ = block.partition("\n")
        if first.startswith("# ") and "." in first and " " not in first[2:].strip():
            files[first[2:].strip()] = block
    return files


def json_files() -> dict[str, str]:
    """The README's JSON blocks, by what they are: the host's settings and the job."""
    found = {}
    for block in blocks("json"):
        value = json.loads(block)
        found["host.json" if "extensions" in value else "job.json" if "tasks" in value else "?"] = block
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [str(REPO_ROOT / "scripts" / "build-wheel"), str(out)], capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = out.glob("durable_batch-*.whl")
    return found


@pytest.fixture
def app_folder(tmp_path: Path, wheel: Path) -> Iterator[Path]:
    """Step 1: an empty folder with a virtual environment, the wheel installed with its extras, and Azurite."""
    folder = tmp_path / "my-batch"
    folder.mkdir()
    assert '.venv/bin/pip install "$WHEEL[cli,devhost]"' in quickstart() and "npm install azurite" in quickstart()
    subprocess.run([sys.executable, "-m", "venv", ".venv"], cwd=folder, check=True, timeout=120)
    venv_site = next((folder / ".venv" / "lib").glob("python3.*/site-packages"))
    (venv_site / "test-libraries.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    installed = subprocess.run(
        [str(folder / ".venv/bin/pip"), "install", "--no-index", "--no-deps", "--quiet", f"{wheel}[cli,devhost]"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (folder / "node_modules").symlink_to((REPO_ROOT / "node_modules").resolve())
    yield folder


def documented_commands() -> list[list[str]]:
    """Every `durable-batch GROUP COMMAND` and `devhost COMMAND` the README shows in a shell block."""
    readme = (REPO_ROOT / "README.md").read_text()
    found: list[list[str]] = []
    for block in re.findall(r"```sh\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            words = line.split()
            while words and (words[0] == "export" or "=" in words[0]):
                words = words[1:]
            if words and Path(words[0]).name in {"durable-batch", "devhost"}:
                command = [Path(words[0]).name, *[w for w in words[1:3] if re.fullmatch(r"[a-z][a-z-]*", w)]]
                if command not in found:
                    found.append(command)
    return found


def test_every_documented_command_is_there_as_installed(app_folder: Path) -> None:
    commands = documented_commands()
    assert ["durable-batch", "job", "submit"] in commands and ["devhost", "start"] in commands, commands
    assert len(commands) >= 20, commands
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    for command in commands:
        script = app_folder / ".venv" / "bin" / command[0]
        helped = subprocess.run(
            [str(script), *command[1:], "--help"], cwd=app_folder, env=env, capture_output=True, text=True, timeout=60
        )
        assert helped.returncode == 0, (command, helped.stdout + helped.stderr)
        assert "Usage" in helped.stdout or "usage" in helped.stdout, (command, helped.stdout)


def test_the_readme_quickstart_works_from_an_empty_folder(app_folder: Path) -> None:
    files = named_files()
    assert set(files) == {"my_tasks.py", "function_app.py", "requirements.txt", "tests/test_my_tasks.py"}, files
    for name, text in {**files, **json_files()}.items():
        assert name != "?", "a JSON block that is neither host.json nor the job"
        (app_folder / name).parent.mkdir(parents=True, exist_ok=True)
        (app_folder / name).write_text(text)
    python = app_folder / ".venv" / "bin" / "python"
    env = {key: value for key, value in os.environ.items() if key not in {"AzureWebJobsStorage", "PYTHONPATH"}}
    where = subprocess.run(
        [str(python), "-c", "import durable_batch, devhost; print(durable_batch.__file__, devhost.__file__)"],
        cwd=app_folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(path).is_relative_to(app_folder / ".venv") for path in where), where

    assert ".venv/bin/devhost start --azurite" in quickstart()
    port = free_port()
    host = subprocess.Popen(
        [str(app_folder / ".venv/bin/devhost"), "start", "--azurite", "--port", str(port)],
        cwd=app_folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    output: list[str] = []
    assert host.stdout is not None
    stream = host.stdout
    drain = threading.Thread(target=lambda: output.extend(stream), daemon=True)
    drain.start()
    base = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 90
        while not any(line.startswith("devhost: listening on") for line in output):
            assert host.poll() is None and time.monotonic() < deadline, "".join(output)
            time.sleep(0.2)
        assert requests.get(f"{base}/api/jobs", timeout=30).status_code == 200

        cli = app_folder / ".venv" / "bin" / "durable-batch"
        cli_env = {**env, "DURABLE_BATCH_URL": base, "COLUMNS": "200", "NO_COLOR": "1"}

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(cli), *args], cwd=app_folder, env=cli_env, capture_output=True, text=True, timeout=180, check=False
            )

        submitted = run("job", "submit", "job.json", "--watch")
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        assert "hello-1" in submitted.stdout and "succeeded" in submitted.stdout
        task = json.loads(run("task", "show", "hello-1", "ada", "-o", "json").stdout)
        assert task["definition"]["input"] == {"name": "Ada"} and task["result"] == {"greeting": "Hello, Ada!"}
        waited = json.loads(run("task", "show", "hello-1", "pause", "-o", "json").stdout)
        assert waited["result"] == {"waited": 0.2}, waited
        downloaded = run("results", "download", "hello-1", "--out", "results")
        assert downloaded.returncode == 0, downloaded.stderr
        assert json.loads((app_folder / "results" / "summary.json").read_text())["state"] == "succeeded"
        smoke = run("smoke", "--url", base)
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr

        assert ".venv/bin/python -m pytest tests" in quickstart()
        tested = subprocess.run(
            [str(python), "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
            cwd=app_folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert tested.returncode == 0 and "1 passed" in tested.stdout, tested.stdout + tested.stderr
    finally:
        host.send_signal(signal.SIGTERM)
        code = host.wait(timeout=60)
        drain.join(timeout=10)
        stream.close()
    assert code == 0, "".join(output)
    azurite = [int(found.group(1)) for line in output if (found := re.match(r"Azurite \(pid (\d+)\)", line))]
    assert len(azurite) == 1, "".join(output)
    assert process_is_gone(azurite[0]), "devhost stops the Azurite it started"
