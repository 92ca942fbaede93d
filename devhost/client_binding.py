"""The `durableClient` binding value and the management URLs it carries (protocol section 4.1).

The same URL builder serves two purposes: the client payload's `managementUrls` (with the `INSTANCEID`
placeholder the SDK replaces in `create_check_status_response`) and the check-status body of the start
endpoint (with a real instance id). Keeping one builder keeps the two from drifting apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

INSTANCE_ID_PLACEHOLDER = "INSTANCEID"
WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask/"
DEFAULT_CONNECTION = "Storage"


def webhook_base_url(origin: str) -> str:
    """The public webhook base for a `scheme://host:port` origin, without a trailing slash."""
    return origin.rstrip("/") + WEBHOOK_PATH


def rpc_base_url(origin: str, secret: str | None = None) -> str:
    """The RPC base for a `scheme://host:port` origin, with a trailing slash (the SDK appends paths to it),
    carrying `secret` as `with_secret` does."""
    return with_secret(origin.rstrip("/") + RPC_PATH, secret)


def with_secret(url: str, secret: str | None, *, user: str = "devhost") -> str:
    """`url` with `secret` as its user info (`http://devhost:SECRET@host/...`); `url` itself when None.

    HTTP clients send URL user info as an `Authorization: Basic` header, so a client that only appends paths
    to a base URL (the SDK's, with `rpcBaseUrl`) presents the secret on every request without knowing it.
    """
    if secret is None:
        return url
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{quote(user, safe='')}:{quote(secret, safe='')}@{rest}"


def _key_suffix(system_key: str | None) -> str:
    return f"&code={quote(system_key, safe='')}" if system_key else ""


def management_urls(
    base_url: str,
    instance_id: str,
    *,
    hub: str,
    connection: str = DEFAULT_CONNECTION,
    system_key: str | None = None,
) -> dict[str, str]:
    """The check-status payload: `id` plus one URL per management operation.

    `base_url` is the webhook base (`.../runtime/webhooks/durabletask`). `{eventName}` and `{text}` stay as
    placeholders for the caller to fill, as in the extension's payload. The placeholder id is not encoded so
    the SDK can find and replace it.
    """
    base = base_url.rstrip("/")
    encoded = instance_id if instance_id == INSTANCE_ID_PLACEHOLDER else quote(instance_id, safe="")
    instance = f"{base}/instances/{encoded}"
    query = f"taskHub={quote(hub, safe='')}&connection={quote(connection, safe='')}{_key_suffix(system_key)}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{instance}?{query}",
        "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{instance}?{query}",
        "restartPostUri": f"{instance}/restart?{query}",
        "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
    }


def creation_urls(base_url: str, *, system_key: str | None = None) -> dict[str, str]:
    """The two start URLs of the client payload, with the extension's placeholders left in."""
    base = base_url.rstrip("/")
    start = f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
    key = f"code={quote(system_key, safe='')}" if system_key else ""
    wait = f"{start}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}"
    return {
        "createNewInstancePostUri": f"{start}?{key}" if key else start,
        "createAndWaitOnNewInstancePostUri": f"{wait}&{key}" if key else wait,
    }


def client_payload(
    base_url: str,
    rpc_base_url: str,
    hub: str,
    binding: Mapping[str, Any],
    *,
    system_key: str | None = None,
) -> str:
    """The JSON string the worker passes for a `durableClient` binding.

    `base_url` is the public webhook base, `rpc_base_url` the base the SDK sends its requests to (a trailing
    slash is added: the SDK appends paths to it directly). The binding's `taskHub` and `connectionName`
    override the host's hub and the default connection. `system_key`, when given, is added to every URL as
    `code=`, as Azure does; devhost gives it only when the request that triggered the function presented the
    system or master key, so no answer built from these URLs hands the key to a caller who did not have it.
    """
    hub_name = str(binding.get("taskHub") or hub)
    connection_name = binding.get("connectionName")
    connection = str(connection_name or DEFAULT_CONNECTION)
    rpc = rpc_base_url if rpc_base_url.endswith("/") else rpc_base_url + "/"
    payload = {
        "taskHubName": hub_name,
        "creationUrls": creation_urls(base_url, system_key=system_key),
        "managementUrls": management_urls(
            base_url, INSTANCE_ID_PLACEHOLDER, hub=hub_name, connection=connection, system_key=system_key
        ),
        "baseUrl": base_url.rstrip("/"),
        "requiredQueryStringParameters": f"code={quote(system_key, safe='')}" if system_key else "",
        "rpcBaseUrl": rpc,
        "httpBaseUrl": None,
        "connectionName": connection_name,
    }
    return json.dumps(payload)
