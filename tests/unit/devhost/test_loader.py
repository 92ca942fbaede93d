"""Indexing sample apps as the Python worker does."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost.errors import AppLoadError
from devhost.loader import load_app, loadable

pytestmark = pytest.mark.unit


def test_dfapp_with_blueprint_and_name_overrides(apps_dir: Path) -> None:
    index = load_app(apps_dir / "devhost_dfapp")
    names = {fn.name for fn in index.functions}
    assert names == {
        "http_start",
        "my_orchestrator",
        "RenamedActivity",
        "scheduled",
        "blueprint_activity",
        "counter",
        "plain_orchestrator",
    }
    assert sorted(index.orchestrator_names) == ["MyOrch", "plain_orchestrator"]
    assert sorted(index.activity_names) == ["BpAct", "RenamedActivity"]
    assert index.entity_names == ["counter"]

    orchestrator = index.orchestrator("myorch")
    assert orchestrator is not None and orchestrator.name == "my_orchestrator"
    assert orchestrator.trigger == {
        "direction": "IN",
        "type": "orchestrationTrigger",
        "name": "context",
        "orchestration": "MyOrch",
    }
    assert index.orchestrator("my_orchestrator") is None  # the override replaces the function name
    activity = index.activity("BPACT")
    assert activity is not None and activity.func("x") == "X" and not activity.is_async
    renamed = index.activity("renamedactivity")
    assert renamed is not None and renamed.durable_name == "RenamedActivity"
    assert index.entity("Counter") is index.entity("counter") is not None
    assert index.activity("MyOrch") is None


def test_http_and_timer_functions(apps_dir: Path) -> None:
    index = load_app(apps_dir / "devhost_dfapp")
    (http,) = index.http_functions
    assert http.trigger_type == "httpTrigger" and http.is_async
    assert http.trigger["route"] == "start/{name}" and http.trigger["methods"] == ["POST"]
    assert {b["type"] for b in http.bindings} == {"durableClient", "httpTrigger", "http"}
    (timer,) = index.timer_functions
    assert timer.trigger["schedule"] == "0 */5 * * * *"
    client = next(b for b in timer.bindings if b["type"] == "durableClient")
    assert (client["taskHub"], client["connectionName"]) == ("OtherHub", "OtherConn")
    assert index.get("SCHEDULED") is timer


def test_plain_function_app_with_durable_decorators(apps_dir: Path) -> None:
    index = load_app(apps_dir / "devhost_funcapp")
    assert index.orchestrator_names == ["orchestrator"]
    work = index.activity("work")
    assert work is not None and work.is_async
    (hello,) = index.http_functions
    assert hello.trigger["authLevel"] == "ANONYMOUS"


def test_script_file_name_is_honoured(apps_dir: Path) -> None:
    index = load_app(apps_dir / "devhost_custom_file", script_file="main_app.py")
    assert [fn.name for fn in index.functions] == ["ping"]


def test_import_failure_reports_file_line_and_cause(apps_dir: Path) -> None:
    with pytest.raises(AppLoadError) as info:
        load_app(apps_dir / "devhost_broken")
    error = info.value
    assert error.file is not None and error.file.endswith("function_app.py")
    assert error.line == 7
    assert error.cause == "NameError: name 'undefined_name' is not defined"
    assert "Traceback" not in str(error) and ":7:" in str(error)


def test_two_function_apps_are_refused(apps_dir: Path) -> None:
    with pytest.raises(AppLoadError) as info:
        load_app(apps_dir / "devhost_two_apps")
    cause = "ValueError: More than one FunctionApp or other top level function app instances are defined."
    assert (info.value.cause, str(info.value).split(": ")[1]) == (cause, "the function app could not be indexed")


def test_missing_app_file(tmp_path: Path) -> None:
    with pytest.raises(AppLoadError, match=r"no function_app\.py"):
        load_app(tmp_path)


def test_module_without_function_app(tmp_path: Path) -> None:
    (tmp_path / "empty_app.py").write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(AppLoadError) as info:
        load_app(tmp_path, script_file="empty_app.py")
    assert info.value.cause == "ValueError: Could not find top level function app instances in empty_app.py."


def test_syntax_error_points_at_the_line(tmp_path: Path) -> None:
    (tmp_path / "bad_syntax_app.py").write_text("import azure.functions\n\ndef f(:\n", encoding="utf-8")
    with pytest.raises(AppLoadError) as info:
        load_app(tmp_path, script_file="bad_syntax_app.py")
    assert info.value.line == 3 and "SyntaxError" in str(info.value.cause)


def test_apps_loaded_in_turn_each_get_their_own_module(apps_dir: Path) -> None:
    first = load_app(apps_dir / "devhost_dfapp")
    load_app(apps_dir / "devhost_funcapp")
    again = load_app(apps_dir / "devhost_dfapp")
    assert [fn.name for fn in again.functions] == [fn.name for fn in first.functions]


def test_without_the_durable_extension_only_functions_without_durable_bindings_load(apps_dir: Path) -> None:
    index = load_app(apps_dir / "devhost_no_bundle")
    assert loadable(index, None) == (index, [])
    kept, errors = loadable(index, "host.json names no extension bundle")
    assert [fn.name for fn in kept.functions] == ["hello"]
    assert kept.orchestrator("orchestrate") is None and kept.activity("work") is None
    why = "are not registered: host.json names no extension bundle"
    assert {error.name: error.reason for error in errors} == {
        "start": f"the binding type(s) 'durableClient' {why}",
        "orchestrate": f"the binding type(s) 'orchestrationTrigger' {why}",
        "work": f"the binding type(s) 'activityTrigger' {why}",
    }


def test_a_missing_module_is_reported_with_the_workers_advice(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("import os\nimport not_installed_anywhere\n", encoding="utf-8")
    with pytest.raises(AppLoadError) as info:
        load_app(tmp_path)
    assert (info.value.file, info.value.line) == (str(tmp_path / "function_app.py"), 2)
    assert str(info.value.cause).startswith(
        "ModuleNotFoundError: No module named 'not_installed_anywhere'. Cannot find module. Please check the "
        "requirements.txt file for the missing module. For more info, please refer the troubleshooting guide: "
        "https://aka.ms/functions-modulenotfound. Current sys.path: "
    )
