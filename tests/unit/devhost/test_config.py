"""host.json and local.settings.json loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.config import load_config
from devhost.errors import ConfigError

pytestmark = pytest.mark.unit


def write(path: Path, data: object) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def test_defaults_without_any_file(tmp_path: Path) -> None:
    config = load_config(tmp_path, {})
    assert config.hub_name == "TestHubName"
    assert config.route_prefix == "api"
    assert config.script_file == "function_app.py"
    assert config.storage_provider_type is None
    assert config.max_concurrent_activity_functions >= 10
    assert config.script_root == tmp_path.resolve()


def test_host_json_values(tmp_path: Path) -> None:
    write(
        tmp_path / "host.json",
        {
            "version": "2.0",
            "extensions": {
                "durableTask": {
                    "hubName": "BatchHub",
                    "maxConcurrentActivityFunctions": 7,
                    "maxConcurrentOrchestratorFunctions": 3,
                    "storageProvider": {"type": "AzureStorage"},
                },
                "http": {"routePrefix": "/v1/"},
            },
        },
    )
    config = load_config(tmp_path, {})
    assert (config.hub_name, config.route_prefix, config.storage_provider_type) == ("BatchHub", "v1", "AzureStorage")
    assert (config.max_concurrent_activity_functions, config.max_concurrent_orchestrator_functions) == (7, 3)


def test_empty_route_prefix_is_kept(tmp_path: Path) -> None:
    write(tmp_path / "host.json", {"extensions": {"http": {"routePrefix": ""}}})
    assert load_config(tmp_path, {}).route_prefix == ""


def test_local_settings_fill_the_environment_without_overriding_it(tmp_path: Path) -> None:
    write(
        tmp_path / "local.settings.json",
        {
            "IsEncrypted": False,
            "Values": {"A": "from-file", "B": "from-file", "N": 5, "FLAG": True},
            "Host": {"LocalHttpPort": 7072},
        },
    )
    environ = {"A": "from-env"}
    config = load_config(tmp_path, environ)
    root = str(tmp_path.resolve())
    assert environ == {"A": "from-env", "B": "from-file", "N": "5", "FLAG": "True", "AzureWebJobsScriptRoot": root}
    assert config.app_settings["A"] == "from-file"
    assert config.local_http_port == 7072


def test_hub_name_and_script_file_from_app_settings(tmp_path: Path) -> None:
    write(tmp_path / "host.json", {"extensions": {"durableTask": {"hubName": "%HUB%"}}})
    write(tmp_path / "local.settings.json", {"Values": {"HUB": "SettingsHub", "PYTHON_SCRIPT_FILE_NAME": "main.py"}})
    config = load_config(tmp_path, {})
    assert (config.hub_name, config.script_file) == ("SettingsHub", "main.py")


def test_unset_app_setting_reference_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "host.json", {"extensions": {"durableTask": {"hubName": "%MISSING%"}}})
    with pytest.raises(ConfigError, match="MISSING"):
        load_config(tmp_path, {})


@pytest.mark.parametrize("name", ["host.json", "local.settings.json"])
def test_malformed_json_names_the_file_and_line(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text('{\n  "Values": {,}\n}', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, {})
    assert name in str(info.value) and "line 2" in str(info.value)
    assert info.value.file is not None and info.value.file.endswith(name)


@pytest.mark.parametrize(
    "host",
    [
        {"extensions": {"durableTask": {"maxConcurrentActivityFunctions": 0}}},
        {"extensions": {"durableTask": {"maxConcurrentOrchestratorFunctions": "4"}}},
        {"extensions": {"durableTask": {"hubName": 12}}},
        {"extensions": {"http": {"routePrefix": 1}}},
        {"extensions": {"durableTask": []}},
    ],
)
def test_wrongly_typed_values_are_errors(tmp_path: Path, host: dict[str, object]) -> None:
    write(tmp_path / "host.json", host)
    with pytest.raises(ConfigError, match=r"host\.json"):
        load_config(tmp_path, {})


def test_non_string_setting_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "local.settings.json", {"Values": {"X": {"nested": 1}}})
    with pytest.raises(ConfigError, match=r"Values\.X"):
        load_config(tmp_path, {})


def test_storage_connection_name_and_overrides_from_app_settings(tmp_path: Path) -> None:
    write(
        tmp_path / "host.json",
        {
            "extensions": {
                "durableTask": {
                    "hubName": "FromFile",
                    "storageProvider": {"type": "AzureStorage", "connectionName": "DurableStorage"},
                }
            }
        },
    )
    config = load_config(tmp_path, {})
    assert (config.hub_name, config.storage_connection_name) == ("FromFile", "DurableStorage")
    # As in the Functions host, `AzureFunctionsJobHost__path__to__key` replaces a host.json value.
    environ = {
        "AzureFunctionsJobHost__extensions__durableTask__hubName": "FromSetting",
        "AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions": "3",
        "AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName": "Older",
    }
    config = load_config(tmp_path, environ)
    assert (config.hub_name, config.max_concurrent_activity_functions) == ("FromSetting", 3)
    assert config.storage_connection_name == "DurableStorage"  # connectionName wins over the older key
    write(tmp_path / "host.json", {"version": "2.0"})
    assert load_config(tmp_path, environ).storage_connection_name == "Older"


BUNDLE = {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}


@pytest.mark.parametrize(
    ("host", "installed", "missing"),
    [
        ({"version": "2.0", "extensionBundle": BUNDLE}, None, None),
        ({"extensionBundle": {**BUNDLE, "id": "microsoft.azure.functions.extensionbundle.PREVIEW"}}, None, None),
        ({"extensionBundle": {**BUNDLE, "id": "Microsoft.Azure.Functions.ExtensionBundle.Experimental"}}, None, None),
        ({"version": "2.0"}, None, "host.json names no extension bundle"),
        (
            {"extensionBundle": {"id": "Contoso.Bundle", "version": "[1.*, 2.0.0)"}},
            None,
            "the extension bundle 'Contoso.Bundle' named in host.json does not carry Durable Functions",
        ),
        (
            {"version": "2.0"},
            ("extensions.csproj", '<PackageReference Include="Microsoft.Azure.WebJobs.Extensions.DurableTask" />'),
            None,
        ),
        ({"version": "2.0"}, ("bin/extensions.json", '{"extensions": [{"name": "DurableTask"}]}'), None),
        ({"version": "2.0"}, ("extensions.csproj", "<Project />"), "host.json names no extension bundle"),
    ],
)
def test_whether_the_durable_extension_is_there(
    tmp_path: Path, host: dict[str, object], installed: tuple[str, str] | None, missing: str | None
) -> None:
    write(tmp_path / "host.json", host)
    if installed is not None:
        (tmp_path / installed[0]).parent.mkdir(exist_ok=True)
        (tmp_path / installed[0]).write_text(installed[1])
    config = load_config(tmp_path, {})
    if missing is None:
        assert config.durable_missing is None
    else:
        assert config.durable_missing is not None and config.durable_missing.startswith(missing)
        assert '"extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle"' in config.durable_missing


def test_without_host_json_the_app_runs_as_before(tmp_path: Path) -> None:
    assert load_config(tmp_path, {}).durable_missing is None


@pytest.mark.parametrize(
    "bundle", [[], "bundle", {"id": "Microsoft.Azure.Functions.ExtensionBundle"}, {"version": "4"}]
)
def test_a_malformed_extension_bundle_is_refused(tmp_path: Path, bundle: object) -> None:
    write(tmp_path / "host.json", {"extensionBundle": bundle})
    with pytest.raises(ConfigError, match=r"'extensionBundle' must be an object with an 'id' and a 'version'"):
        load_config(tmp_path, {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "expected one JSON object, found an array at line 1, column 1"),
        ('\n\n   "text"', "expected one JSON object, found a string at line 3, column 4"),
        ("null", "expected one JSON object, found null at line 1, column 1"),
        (
            '{"version": "2.0"}\n{"version": "2.0"}',
            "expected one JSON object, but another value starts at line 2, column 1",
        ),
    ],
)
def test_a_host_json_that_is_not_one_object_is_refused_with_its_position(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "host.json").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, {})
    assert message in str(info.value) and "host.json" in str(info.value)
