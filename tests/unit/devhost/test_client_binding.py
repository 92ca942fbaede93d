"""The durableClient payload (protocol section 4.1)."""

from __future__ import annotations

import json

import pytest

from devhost.client_binding import client_payload, management_urls

pytestmark = pytest.mark.unit


def test_payload_shape() -> None:
    payload = json.loads(
        client_payload(
            "http://h:7071/runtime/webhooks/durabletask/",
            "http://127.0.0.1:9/durabletask",
            "Hub",
            {"type": "durableClient", "name": "client"},
        )
    )
    assert payload["taskHubName"] == "Hub"
    assert payload["rpcBaseUrl"] == "http://127.0.0.1:9/durabletask/"  # the SDK appends paths to it directly
    assert payload["baseUrl"] == "http://h:7071/runtime/webhooks/durabletask"
    assert payload["requiredQueryStringParameters"] == ""
    assert payload["managementUrls"]["id"] == "INSTANCEID"
    assert payload["managementUrls"]["statusQueryGetUri"] == (
        "http://h:7071/runtime/webhooks/durabletask/instances/INSTANCEID?taskHub=Hub&connection=Storage"
    )
    assert payload["creationUrls"] == {
        "createNewInstancePostUri": "http://h:7071/runtime/webhooks/durabletask/orchestrators/{functionName}"
        "[/{instanceId}]",
        "createAndWaitOnNewInstancePostUri": "http://h:7071/runtime/webhooks/durabletask/orchestrators/"
        "{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}",
    }


def test_system_key_goes_on_every_url() -> None:
    payload = json.loads(
        client_payload("http://h/runtime/webhooks/durabletask", "http://h/durabletask/", "Hub", {}, system_key="k/1")
    )
    assert payload["requiredQueryStringParameters"] == "code=k%2F1"
    assert all(url.endswith("&code=k%2F1") for key, url in payload["managementUrls"].items() if key != "id")
    assert all("code=k%2F1" in url for url in payload["creationUrls"].values())


def test_real_instance_ids_are_encoded() -> None:
    urls = management_urls("http://h/runtime/webhooks/durabletask", "a b:1", hub="Hub")
    assert urls["id"] == "a b:1"
    assert urls["sendEventPostUri"].startswith("http://h/runtime/webhooks/durabletask/instances/a%20b%3A1/raiseEvent/")
