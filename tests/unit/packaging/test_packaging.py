"""What the wheel promises, checked against the files it is built from: the extras name what the development
environment installs, the console scripts and the public names exist, and the package never imports the
repository's reference app or tools."""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
from pathlib import Path

import pytest

import durable_batch

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements(name: str) -> dict[str, str]:
    """`name`'s requirements by project name (lower case), as written, without comments and includes."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            found[re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower()] = line
    return found


def test_every_extra_is_what_the_development_environment_installs() -> None:
    dev = requirements("requirements-dev.txt")
    for extra, wanted in PROJECT["project"]["optional-dependencies"].items():
        for requirement in wanted:
            name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()
            assert name in dev, f"extra {extra!r} needs {name}, which requirements-dev.txt does not install"
            assert dev[name].replace("'", '"') == requirement.replace("'", '"'), (extra, dev[name], requirement)


def test_the_dependencies_are_the_reference_apps_requirements() -> None:
    assert PROJECT["project"]["dynamic"] == ["dependencies"]
    assert PROJECT["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    assert "azure-functions-durable" in requirements("requirements.txt")


@pytest.mark.parametrize("script", ["durable-batch", "devhost"])
def test_each_console_script_names_a_function(script: str) -> None:
    module, _, function = PROJECT["project"]["scripts"][script].partition(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_the_public_names_are_there_and_unknown_ones_are_refused() -> None:
    for name in durable_batch.__all__:
        assert getattr(durable_batch, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = durable_batch.nothing


def test_the_package_imports_nothing_of_the_repository_around_it() -> None:
    outside = {"examples", "devtools", "tests", "bench", "activities", "function_app"}
    for path in (ROOT / "durable_batch").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            for name in names:
                assert name.split(".")[0] not in outside, f"{path.relative_to(ROOT)} imports {name}"


def test_the_files_the_package_reads_at_run_time_are_package_data() -> None:
    data = PROJECT["tool"]["setuptools"]["package-data"]["durable_batch"]
    for pattern in data:
        assert list((ROOT / "durable_batch").glob(pattern)), f"package data {pattern!r} matches no file"
