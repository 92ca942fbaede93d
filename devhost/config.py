"""Host configuration read from a function app's script root, the way the Functions host and Core Tools read it.

- `host.json`: the Durable Task hub and concurrency limits, the storage provider, the HTTP route prefix.
- `local.settings.json`: its `Values` become environment variables; variables already set win, as with
  `func start`. The environment mapping is a parameter so that tests never touch `os.environ`.

Values of the form `%NAME%` in host.json (commonly `"hubName": "%TaskHubName%"`) are resolved from the
environment after local settings are applied, as the Functions host does. So are overrides: an app setting
named `AzureFunctionsJobHost__extensions__durableTask__hubName` replaces that host.json value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.errors import ConfigError

HOST_JSON = "host.json"
LOCAL_SETTINGS_JSON = "local.settings.json"
SCRIPT_ROOT_SETTING = "AzureWebJobsScriptRoot"
DEFAULT_HUB_NAME = "TestHubName"
DEFAULT_ROUTE_PREFIX = "api"
DEFAULT_SCRIPT_FILE = "function_app.py"
SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
JOB_HOST_PREFIX = "AzureFunctionsJobHost__"

_APP_SETTING_REF = re.compile(r"^%([^%]+)%$")


def _default_concurrency() -> int:
    # The Durable extension's default for both limits is 10 per processor.
    return 10 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class HostConfig:
    """Everything devhost takes from host.json and local.settings.json. Built once by `load_config`."""

    script_root: Path
    hub_name: str = DEFAULT_HUB_NAME
    max_concurrent_activity_functions: int = field(default_factory=_default_concurrency)
    max_concurrent_orchestrator_functions: int = field(default_factory=_default_concurrency)
    storage_provider_type: str | None = None
    """`extensions.durableTask.storageProvider.type` as written, or None; the engine picks its default."""
    storage_connection_name: str | None = None
    """`storageProvider.connectionName` (or the older `connectionStringName`): the app setting that holds the
    storage connection string, when host.json names one (otherwise `AzureWebJobsStorage`)."""
    route_prefix: str = DEFAULT_ROUTE_PREFIX
    """Without slashes; may be empty (user routes then start at the root)."""
    script_file: str = DEFAULT_SCRIPT_FILE
    local_http_port: int | None = None
    """`Host.LocalHttpPort` from local.settings.json, when set."""
    app_settings: Mapping[str, str] = field(default_factory=dict)
    """The `Values` of local.settings.json, as read (before environment variables take precedence)."""
    durable_missing: str | None = None
    """Why the Functions host could not register the Durable Functions bindings for this app (host.json names
    no extension bundle that has them, and the app installs none itself), or None when it could."""


BUNDLES_WITH_DURABLE = "microsoft.azure.functions.extensionbundle"
"""The extension bundles that carry the Durable Functions extension: Microsoft's bundle and its variants
(`.Preview`, `.Experimental`), by id as the host compares them (case-insensitively)."""
RECOMMENDED_BUNDLE = '"extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}'


def _durable_missing(host: Mapping[str, Any], root: Path, host_path: Path) -> str | None:
    """Why the host would have no Durable Functions bindings (see `HostConfig.durable_missing`), or None."""
    bundle = _get(host, "extensionBundle")
    if bundle is not None:
        bundle_id = _get(bundle, "id") if isinstance(bundle, Mapping) else None
        version = _get(bundle, "version") if isinstance(bundle, Mapping) else None
        if not isinstance(bundle_id, str) or not bundle_id.strip() or not isinstance(version, str):
            raise ConfigError(
                f"'extensionBundle' must be an object with an 'id' and a 'version' range, got {json.dumps(bundle)}",
                file=host_path,
            )
        if bundle_id.strip().lower().startswith(BUNDLES_WITH_DURABLE):
            return None
        reason = f"the extension bundle '{bundle_id}' named in host.json does not carry Durable Functions"
    else:
        reason = "host.json names no extension bundle"
    # An app may install its extensions itself instead (`func extensions install`): the host loads those.
    for installed in (root / "extensions.csproj", root / "bin" / "extensions.json"):
        try:
            if "durabletask" in installed.read_text(encoding="utf-8", errors="replace").lower():
                return None
        except OSError:
            continue
    return f"{reason}, and the app installs no Durable Functions extension; add {RECOMMENDED_BUNDLE} to host.json"


def _read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path`, or {} when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # editors on Windows save a BOM
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", file=path) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            where = f"line {exc.lineno}, column {exc.colno}"
            raise ConfigError(f"expected one JSON object, but another value starts at {where}", file=path) from exc
        raise ConfigError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=path) from exc
    if not isinstance(data, dict):
        # Where the value that is not an object starts: its first character that is not white space.
        offset = len(text) - len(text.lstrip())
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        kinds = {list: "an array", str: "a string", bool: "true or false", int: "a number", float: "a number"}
        kind = kinds.get(type(data), "null")
        raise ConfigError(f"expected one JSON object, found {kind} at line {line}, column {column}", file=path)
    return data


def _scalar(text: str) -> Any:
    # Configuration values from settings are text; the host's binder turns them into numbers and booleans.
    if text.isdigit():
        return int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _apply_overrides(host: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Put `AzureFunctionsJobHost__a__b` settings into host.json's data at `a.b`, as the Functions host does."""
    prefix = JOB_HOST_PREFIX.lower()
    for name, value in sorted(environ.items()):
        if not name.lower().startswith(prefix) or len(name) == len(prefix):
            continue
        *parents, leaf = name[len(prefix) :].split("__")
        node = host
        for key in parents:
            existing = next((k for k in node if k.lower() == key.lower()), key)
            child = node.get(existing)
            if not isinstance(child, dict):
                child = node[existing] = {}
            node = child
        node[next((k for k in node if k.lower() == leaf.lower()), leaf)] = _scalar(value)


def _section(data: Mapping[str, Any], path: str, file: Path) -> Mapping[str, Any]:
    """The nested object at dotted `path`, or {} when any part is absent."""
    node: Any = data
    for key in path.split("."):
        if not isinstance(node, Mapping):
            return {}
        # The Functions host reads host.json keys case-insensitively.
        node = next((v for k, v in node.items() if k.lower() == key.lower()), None)
        if node is None:
            return {}
    if not isinstance(node, Mapping):
        raise ConfigError(f"'{path}' must be a JSON object", file=file)
    return node


def _get(section: Mapping[str, Any], key: str) -> Any:
    return next((v for k, v in section.items() if k.lower() == key.lower()), None)


def _resolve(value: str, environ: Mapping[str, str], where: str, file: Path) -> str:
    match = _APP_SETTING_REF.match(value)
    if match is None:
        return value
    name = match.group(1)
    if name not in environ:
        raise ConfigError(f"'{where}' refers to app setting '{name}', which is not set", file=file)
    return environ[name]


def _positive_int(section: Mapping[str, Any], key: str, where: str, file: Path) -> int | None:
    value = _get(section, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"'{where}.{key}' must be a positive integer, got {value!r}", file=file)
    return value


def _setting_text(name: str, value: Any, file: Path) -> str:
    # Core Tools reads Values as a string dictionary; JSON.NET turns scalars into text, objects fail.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return json.dumps(value)
    raise ConfigError(f"'Values.{name}' must be a string, got {type(value).__name__}", file=file)


def _load_local_settings(root: Path) -> tuple[dict[str, str], int | None]:
    path = root / LOCAL_SETTINGS_JSON
    data = _read_json(path)
    values = _get(data, "Values") or {}
    if not isinstance(values, dict):
        raise ConfigError("'Values' must be a JSON object", file=path)
    settings = {str(k): _setting_text(str(k), v, path) for k, v in values.items() if v is not None}
    host = _get(data, "Host") or {}
    port = _get(host, "LocalHttpPort") if isinstance(host, dict) else None
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536):
        raise ConfigError(f"'Host.LocalHttpPort' must be a port number, got {port!r}", file=path)
    return settings, port


def load_config(script_root: str | Path, environ: MutableMapping[str, str]) -> HostConfig:
    """Read host.json and local.settings.json under `script_root`.

    Puts local settings into `environ` (existing variables are kept) and then resolves `%NAME%` references
    in host.json against it. Raises ConfigError naming the file on malformed JSON or wrongly typed values.
    """
    root = Path(script_root).resolve()
    if not root.is_dir():
        raise ConfigError(f"script root {root} is not a directory")
    settings, port = _load_local_settings(root)
    for name, value in settings.items():
        environ.setdefault(name, value)
    # The Functions host tells the app's worker where the app is, as Azure does for every app (files an app
    # reads by a path relative to its folder are found through it, whatever the process's working directory).
    environ[SCRIPT_ROOT_SETTING] = str(root)

    host_path = root / HOST_JSON
    host = _read_json(host_path)
    # Without a host.json at all devhost runs the app as it always did (Core Tools would not start it at all).
    durable_missing = _durable_missing(host, root, host_path) if host_path.is_file() else None
    _apply_overrides(host, environ)
    durable = _section(host, "extensions.durableTask", host_path)
    http = _section(host, "extensions.http", host_path)
    provider = _section(durable, "storageProvider", host_path)

    hub = _get(durable, "hubName")
    if hub is not None and (not isinstance(hub, str) or not hub.strip()):
        raise ConfigError(f"'extensions.durableTask.hubName' must be a non-empty string, got {hub!r}", file=host_path)
    hub_name = _resolve(hub, environ, "extensions.durableTask.hubName", host_path) if hub else DEFAULT_HUB_NAME

    prefix = _get(http, "routePrefix")
    if prefix is not None and not isinstance(prefix, str):
        raise ConfigError(f"'extensions.http.routePrefix' must be a string, got {prefix!r}", file=host_path)
    route_prefix = DEFAULT_ROUTE_PREFIX if prefix is None else prefix.strip("/")

    provider_type = _get(provider, "type")
    if provider_type is not None and not isinstance(provider_type, str):
        raise ConfigError(
            f"'extensions.durableTask.storageProvider.type' must be a string, got {provider_type!r}",
            file=host_path,
        )

    connection = _get(provider, "connectionName") or _get(provider, "connectionStringName")
    if connection is not None and (not isinstance(connection, str) or not connection.strip()):
        raise ConfigError(
            f"'extensions.durableTask.storageProvider.connectionName' must be an app setting name, got {connection!r}",
            file=host_path,
        )

    where = "extensions.durableTask"
    activities = _positive_int(durable, "maxConcurrentActivityFunctions", where, host_path)
    orchestrators = _positive_int(durable, "maxConcurrentOrchestratorFunctions", where, host_path)
    return HostConfig(
        script_root=root,
        hub_name=hub_name,
        max_concurrent_activity_functions=activities or _default_concurrency(),
        max_concurrent_orchestrator_functions=orchestrators or _default_concurrency(),
        storage_provider_type=provider_type,
        storage_connection_name=connection.strip() if connection else None,
        route_prefix=route_prefix,
        script_file=environ.get(SCRIPT_FILE_SETTING) or DEFAULT_SCRIPT_FILE,
        local_http_port=port,
        app_settings=settings,
        durable_missing=durable_missing,
    )


STORAGE_SETTING = "AzureWebJobsStorage"
LOCAL_SETTINGS_EXAMPLE = "local.settings.json.example"


def storage_warning(script_root: str | Path, environ: Mapping[str, str]) -> str | None:
    """What to say at start-up when `AzureWebJobsStorage` is set neither in the environment nor in
    local.settings.json: the host runs, but every storage call of the app fails (as under `func start`, which
    refuses to start without it). None when it is set."""
    if environ.get(STORAGE_SETTING, "").strip() or environ.get(f"{STORAGE_SETTING}__accountName", "").strip():
        return None
    root = Path(script_root).resolve()
    if (root / LOCAL_SETTINGS_EXAMPLE).is_file():
        fix = (
            f"install -m 600 {LOCAL_SETTINGS_EXAMPLE} {LOCAL_SETTINGS_JSON} (a copy only you can read; it sets "
            f"{STORAGE_SETTING}=UseDevelopmentStorage=true) and start Azurite (python -m devhost.azurite)"
        )
    else:
        fix = f"set {STORAGE_SETTING} in {LOCAL_SETTINGS_JSON}'s Values or in the environment"
    return (
        f"warning: the app setting {STORAGE_SETTING} is not set, so the app cannot reach its storage and its "
        f"functions will fail (an API answers 503). Fix: {fix}; or run Azurite and devhost together with "
        "devhost start --azurite."
    )


def settings_file_warning(script_root: str | Path) -> str | None:
    """What to say at start-up when local.settings.json may be read by other users of the machine: it holds the
    storage connection string, and a command task run as another user (or any other local user) could read
    it. None when it is missing or private."""
    path = Path(script_root).resolve() / LOCAL_SETTINGS_JSON
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (
        f"warning: {path} can be read by other users of this machine (mode {mode & 0o777:o}), and it holds the "
        f"app's secrets ({STORAGE_SETTING}). Fix: chmod 600 {path}"
    )
