"""Helpers for tests that drive a devhost process: the SDK's client pointed at it, polling, and the store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.client_binding import client_payload, rpc_base_url, webhook_base_url
from devhost.testing import DevHostProcess
from tests.conftest import SdkLoop

TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}
STORES = ["sqlite", "azure"]
HUB_OVERRIDE = "AzureFunctionsJobHost__extensions__durableTask__hubName"


@dataclass(frozen=True)
class StoreSetup:
    """How to start devhost on one store: its arguments, its environment, and the task hub it uses."""

    kind: str
    hub: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def store_setup(kind: str, request: pytest.FixtureRequest, hub: str = "FeaturesHub") -> StoreSetup:
    """The SQLite store in the test's state folder, or the Azure store on the session's Azurite with a task hub
    of its own (the hub name overridden by app setting, as the Functions host allows), so that hosts of
    different tests never share instances."""
    if kind == "sqlite":
        return StoreSetup(kind, hub)
    azurite = request.getfixturevalue("azurite")
    unique = f"{hub[:20]}{uuid.uuid4().hex[:12]}"
    env = {"AzureWebJobsStorage": azurite.connection_string, HUB_OVERRIDE: unique}
    return StoreSetup(kind, unique, ["--store", "azure"], env)


class Client:
    """The SDK's DurableOrchestrationClient for a running devhost, called synchronously through the SDK loop.

    For a host that requires keys it presents the system key, in its rpcBaseUrl as devhost's own bindings carry
    their secret."""

    def __init__(self, host: DevHostProcess, sdk: SdkLoop, hub: str = "TestHubName") -> None:
        self.host = host
        self.sdk = sdk
        key = host.keys.system_key if host.keys else None
        payload = client_payload(webhook_base_url(host.base_url), rpc_base_url(host.base_url, key), hub, {})
        self.client = df.DurableOrchestrationClient(payload)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.sdk.run(method(*args, **kwargs))

        return call

    def wait(self, instance_id: str, *, timeout: float = 60.0, advance: float | None = None) -> Any:
        """Poll until the instance is finished; with `advance`, move the manual clock that far each poll."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_status(instance_id)
            if status and status.runtime_status and status.runtime_status.value in TERMINAL:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"instance {instance_id} still {status.runtime_status} after {timeout}s")
            if advance:
                self.host.advance_clock(advance)
            time.sleep(0.02)

    def wait_for(self, predicate: Callable[[], bool], *, timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)
