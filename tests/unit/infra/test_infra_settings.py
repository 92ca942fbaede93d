"""The deployment template and the app agree on app settings: every setting the app reads is set by
infra/main.bicep or documented in the README as the user's to set, and the list of what the app reads is
the code's (no bicep binary here, so the template is read as text)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from durable_batch.app.settings import APP_SETTINGS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
APP_CODE = [
    "function_app.py",
    "app",
    "api",
    "operations",
    "dashboard",
    "activities",
    "orchestrators",
    "storage",
    "batch",
    "lib",
]
# The prefixes of the settings Durable Batch owns or reads; a literal like these in the app's code is a read.
SETTING = re.compile(
    r"^(BATCH_[A-Z0-9_]+|APPLICATIONINSIGHTS_[A-Z_]+|PYTHON_APPLICATIONINSIGHTS_[A-Z_]+|AzureWebJobsStorage(__\w+)?)$"
)


def template_settings() -> set[str]:
    text = (ROOT / "infra" / "main.bicep").read_text()
    return set(re.findall(r"\{\s*name:\s*'([^']+)'\s*,\s*value:", text))


def documented_settings() -> set[str]:
    """The names listed under the README's "Settings the template leaves to you"."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("Settings the template leaves to you", 1)[1].split("\n\n", 2)[1]
    return set(re.findall(r"`([A-Za-z_]+)`", section))


# Variables the app gives command tasks (durable_batch/activities/command_env.py), not settings it reads.
TASK_VARIABLES = {"BATCH_TASK_ID", "BATCH_TASK_RUN_ID", "BATCH_TASK_WORKING_DIR"}


def settings_in_code() -> set[str]:
    found: set[str] = set()
    for entry in APP_CODE:
        path = ROOT / entry
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            if file.name == "command_env.py":
                found |= {
                    name for name in re.findall(r'"(BATCH_[A-Z_]+)"', file.read_text()) if name not in TASK_VARIABLES
                }
                continue
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and SETTING.match(node.value):
                    found.add(node.value)
    return found


def test_every_setting_the_app_reads_is_set_by_the_template_or_documented_as_the_users() -> None:
    missing = APP_SETTINGS - template_settings() - documented_settings()
    assert not missing, f"neither set by infra/main.bicep nor documented in the README: {sorted(missing)}"


def test_the_list_of_settings_is_the_codes() -> None:
    unlisted = settings_in_code() - APP_SETTINGS
    assert not unlisted, f"read by the app but missing from app.settings.APP_SETTINGS: {sorted(unlisted)}"


def test_the_template_and_the_readme_name_no_setting_the_app_does_not_read() -> None:
    ours = {name for name in template_settings() | documented_settings() if SETTING.match(name)}
    assert ours <= APP_SETTINGS, f"not read by the app: {sorted(ours - APP_SETTINGS)}"


def test_the_template_connects_storage_by_identity_and_keeps_keys_off_on_flex() -> None:
    text = (ROOT / "infra" / "main.bicep").read_text()
    assert {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential"} <= template_settings()
    assert "AzureWebJobsStorage'" not in text, "no key-based connection string for the app"
    assert re.search(r"allowSharedKeys = !isFlex", text) and "allowSharedKeyAccess: allowSharedKeys" in text
    assert "planKind string = 'flex'" in text
    for role in (
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    ):
        assert role in text
