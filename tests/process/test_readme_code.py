"""Every Python example in the README passes the project's own lint and types (ruff, `mypy --strict`), as a
user's code would be checked by them: each block is written as the file its first line names (`# my_tasks.py`),
or a module of its own, into one folder. ruff runs as a process; mypy in this one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from mypy import api as mypy_api

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]


def readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def write_blocks(folder: Path) -> list[Path]:
    written = []
    for number, block in enumerate(readme_blocks()):
        first = block.partition("\n")[0]
        name = first[2:].strip() if re.fullmatch(r"# [\w/]+\.py", first) else f"readme_block_{number}.py"
        path = folder / name
        assert not path.exists(), f"two README blocks are {name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block)
        written.append(path)
    return written


def test_the_readme_has_python_examples() -> None:
    assert len(readme_blocks()) >= 4


def test_every_python_example_passes_ruff(tmp_path: Path) -> None:
    files = write_blocks(tmp_path)
    ruff = Path(sys.executable).with_name("ruff")
    checked = subprocess.run(
        [str(ruff), "check", "--config", str(ROOT / "pyproject.toml"), "--no-cache", *map(str, files)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_python_example_passes_mypy_strict(tmp_path: Path) -> None:
    files = write_blocks(tmp_path)
    out, err, status = mypy_api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--strict", "--no-incremental", *map(str, files)]
    )
    assert status == 0, out + err
