"""Required keys end to end: a devhost process started with `--require-keys`, over real HTTP.

Every management and admin route refuses an anonymous caller with a 401 in the documented shape and works with
the right key; the SDK's client inside the app's functions (HTTP-triggered, and an activity the host triggers
itself) keeps working; and no answer hands the system key to a caller who did not present it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.testing import DevHostProcess, HostKeys
from tests.conftest import SdkLoop
from tests.host.helpers import Client

APP = Path(__file__).resolve().parent.parent / "apps" / "devhost_client"
pytestmark = pytest.mark.host

BASES = ["/runtime/webhooks/durabletask", "/durabletask"]
MANAGEMENT_ROUTES = [
    ("POST", "/orchestrators/hello"),
    ("POST", "/orchestrators/hello/some-id"),
    ("GET", "/instances"),
    ("DELETE", "/instances?createdTimeFrom=2000-01-01T00:00:00Z"),
    ("GET", "/instances/some-id"),
    ("DELETE", "/instances/some-id"),
    ("POST", "/instances/some-id/raiseEvent/go"),
    ("POST", "/instances/some-id/terminate?reason=x"),
    ("POST", "/instances/some-id/suspend"),
    ("POST", "/instances/some-id/resume"),
    ("POST", "/instances/some-id/rewind"),
    ("POST", "/instances/some-id/restart"),
    ("GET", "/entities/counter"),
    ("GET", "/entities/counter/k"),
    ("POST", "/entities/counter/k?op=add"),
    ("DELETE", "/entities/counter/k"),
]
ADMIN_ROUTES = [
    ("GET", "/admin/host/status"),
    ("GET", "/admin/devhost/health"),
    ("GET", "/admin/devhost/clock"),
    ("POST", "/admin/devhost/clock/advance?seconds=1"),
]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    state = tmp_path_factory.mktemp("keys-state")
    with DevHostProcess(APP, state_dir=state, manual_clock=True, require_keys=True) as process:
        yield process


@pytest.fixture(scope="module")
def keys(host: DevHostProcess) -> HostKeys:
    assert host.keys is not None, "devhost printed no keys"
    return host.keys


def send(method: str, url: str, key: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {"x-functions-key": key} if key else {}
    if method == "POST":
        kwargs.setdefault("json", 1)
    return requests.request(method, url, headers=headers, timeout=30, **kwargs)


def assert_unauthorized(response: requests.Response) -> None:
    assert response.status_code == 401, (response.request.method, response.url, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "unauthorized"


def wait_status(host: DevHostProcess, instance_id: str, wanted: str) -> dict[str, Any]:
    """Poll the app's own status function (the SDK's get_status inside it) until the instance is `wanted`."""
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = send("GET", f"{host.base_url}/api/status/{instance_id}").json()
        if body["runtimeStatus"] == wanted:
            return body
        assert time.monotonic() < deadline, f"{instance_id} is {body['runtimeStatus']}, not {wanted}"
        time.sleep(0.05)


@pytest.mark.parametrize("base", BASES)
def test_management_routes_refuse_callers_without_the_system_key(
    host: DevHostProcess, keys: HostKeys, base: str
) -> None:
    for method, path in MANAGEMENT_ROUTES:
        for key in (None, "wrong", keys.function_key):
            assert_unauthorized(send(method, host.base_url + base + path, key))
    # Nothing the refused requests asked for happened.
    listed = send("GET", f"{host.base_url}{base}/instances", keys.system_key)
    assert listed.status_code == 200 and "some-id" not in listed.text


@pytest.mark.parametrize("base", BASES)
def test_management_routes_work_with_the_system_or_master_key(host: DevHostProcess, keys: HostKeys, base: str) -> None:
    root = host.base_url + base
    for key in (keys.system_key, keys.master_key):
        started = send("POST", f"{root}/orchestrators/waiter", key)
        assert started.status_code == 202
        instance_id = started.json()["id"]
        # The caller presented a key that opens the webhooks, so the URLs it gets carry the system key.
        assert f"code={keys.system_key}" in started.json()["statusQueryGetUri"]
        assert requests.get(started.json()["statusQueryGetUri"], timeout=30).status_code == 202
        assert send("GET", f"{root}/instances", key).status_code == 200
        assert send("POST", f"{root}/instances/{instance_id}/raiseEvent/go", key, json="yes").status_code == 202
        wait_status(host, instance_id, "Completed")
        assert send("DELETE", f"{root}/instances/{instance_id}", key).json() == {"instancesDeleted": 1}


def test_admin_routes_need_the_master_key(host: DevHostProcess, keys: HostKeys) -> None:
    for method, path in ADMIN_ROUTES:
        for key in (None, keys.function_key, keys.system_key):
            assert_unauthorized(send(method, host.base_url + path, key))
        assert send(method, host.base_url + path, keys.master_key).status_code == 200
    bad = send("POST", f"{host.base_url}/admin/devhost/clock/advance?seconds=nan", keys.master_key)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalidQuery"
    host.advance_clock(1)  # the helper sends the master key it read from devhost's output


def test_the_client_inside_functions_works_and_leaks_no_key(host: DevHostProcess, keys: HostKeys) -> None:
    api = f"{host.base_url}/api"
    started = send("POST", f"{api}/start/waiter/job-1")
    assert started.status_code == 202 and started.json()["id"] == "job-1"
    # The anonymous caller presented no key: the check-status URLs carry none, and need the caller's own.
    assert keys.system_key not in started.text and "code=" not in started.text
    status_url = started.json()["statusQueryGetUri"]
    assert_unauthorized(requests.get(status_url, timeout=30))
    assert requests.get(status_url, params={"code": keys.system_key}, timeout=30).status_code == 202
    assert wait_status(host, "job-1", "Running")["output"] is None
    assert send("POST", f"{api}/terminate/job-1").status_code == 202
    wait_status(host, "job-1", "Terminated")
    assert send("DELETE", f"{api}/purge/job-1").json() == {"instancesDeleted": 1}
    assert send("GET", f"{api}/status/job-1").json()["runtimeStatus"] is None
    # Events and outputs through the client, too.
    send("POST", f"{api}/start/waiter/job-2")
    wait_status(host, "job-2", "Running")
    assert send("POST", f"{api}/raise/job-2/go", json={"n": 1}).status_code == 202
    got = wait_status(host, "job-2", "Completed")["output"]["got"]
    assert json.loads(got) == {"n": 1}  # the SDK's raise_event sends the data JSON-encoded once more
    # A caller of a function-level route presented a function key, not the system key: no key either.
    assert_unauthorized(send("POST", f"{api}/keyed/start/hello"))
    keyed = send("POST", f"{api}/keyed/start/hello", keys.function_key)
    assert keyed.status_code == 202 and keys.system_key not in keyed.text
    # A caller who presented the system key gets URLs that carry it.
    trusted = send("POST", f"{api}/start/hello", keys.system_key, json="you")
    assert f"code={keys.system_key}" in trusted.json()["statusQueryGetUri"]


def test_the_client_of_a_function_the_host_triggers_works(host: DevHostProcess, keys: HostKeys) -> None:
    send("POST", f"{host.base_url}/api/start/via_activity/outer", json="there")
    child = wait_status(host, "outer", "Completed")["output"]
    assert wait_status(host, child, "Completed")["output"] == "Hello there"


def test_the_sdk_client_outside_the_host_presents_the_system_key(
    host: DevHostProcess, keys: HostKeys, sdk: SdkLoop
) -> None:
    client = Client(host, sdk, hub="TestHubName")
    instance_id = client.start_new("hello", None, "sdk")
    assert client.wait(instance_id).output == "Hello sdk"
    assert client.purge_instance_history(instance_id).instances_deleted == 1
