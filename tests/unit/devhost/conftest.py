"""Fixtures for devhost's unit tests: sample apps, an in-memory Management, and one long-lived event loop.

The SDK's client keeps one module-global aiohttp session, bound to the loop it was first used on; a second
`asyncio.run` would find it attached to a closed loop. So every test that talks HTTP runs its coroutine on
the session's one SDK loop (`loop_runner`, the `sdk` fixture of tests/conftest.py).
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from devhost.http.app import MAX_REQUEST_LINE
from devhost.management import (
    InstanceExists,
    InstanceGone,
    InstanceNotFound,
    InstancePage,
    InstanceQuery,
    InvalidOperation,
    UnknownFunction,
)
from tests.conftest import SdkLoop

APPS = Path(__file__).resolve().parents[2] / "apps"
T = TypeVar("T")
TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


@pytest.fixture(scope="session")
def loop_runner(sdk: SdkLoop) -> SdkLoop:
    """The session's one SDK loop (tests/conftest.py): every HTTP/SDK test here runs on it."""
    return sdk


@pytest.fixture
def apps_dir() -> Path:
    return APPS


@asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 at a port the OS picks, with devhost's parser limits; yields the origin
    (`http://127.0.0.1:port`)."""
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server(max_line_size=MAX_REQUEST_LINE)
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@dataclass
class FakeManagement:
    """An in-memory `Management` that records calls; statuses are the extension's status JSON."""

    orchestrators: list[str]
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[tuple[str, str, str | None]] = field(default_factory=list)
    signals: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    entities: dict[tuple[str, str], str] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    queries: list[InstanceQuery] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _tick: Iterator[int] = field(default_factory=lambda: itertools.count(0))

    def _time(self) -> str:
        return f"2030-01-01T00:{next(self._tick):02d}:00Z"

    def _get(self, instance_id: str) -> dict[str, Any]:
        status = self.instances.get(instance_id)
        if status is None:
            raise InstanceNotFound(f"No instance with ID '{instance_id}' found.")
        return status

    def _live(self, instance_id: str) -> dict[str, Any]:
        status = self._get(instance_id)
        if status["runtimeStatus"] in TERMINAL:
            raise InstanceGone(f"Instance '{instance_id}' is {status['runtimeStatus']}.")
        return status

    def finish(self, instance_id: str, runtime_status: str = "Completed", output: Any = None) -> None:
        """Test helper: move an instance to a final state."""
        status = self.instances[instance_id]
        status.update(runtimeStatus=runtime_status, output=output, lastUpdatedTime=self._time())

    async def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        self.calls.append(("start_new", (name, instance_id, input_text)))
        known = {n.lower(): n for n in self.orchestrators}
        if name.lower() not in known:
            listed = ", ".join(f"'{n}'" for n in self.orchestrators)
            raise UnknownFunction(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Additional info: The following are the known orchestrator functions: {listed}."
            )
        instance_id = instance_id or f"instance-{next(self._ids)}"
        existing = self.instances.get(instance_id)
        if existing is not None and existing["runtimeStatus"] in ("Running", "Pending"):
            raise InstanceExists(f"An instance with ID '{instance_id}' already exists.")
        now = self._time()
        self.instances[instance_id] = {
            "name": known[name.lower()],
            "instanceId": instance_id,
            "runtimeStatus": "Pending",
            "input": json.loads(input_text) if input_text is not None else None,
            "customStatus": None,
            "output": None,
            "createdTime": now,
            "lastUpdatedTime": now,
        }
        return instance_id

    async def get_status(
        self,
        instance_id: str,
        *,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> dict[str, Any] | None:
        self.calls.append(("get_status", (instance_id, show_history, show_history_output, show_input)))
        status = self.instances.get(instance_id)
        if status is None:
            return None
        result = copy.deepcopy(status)
        if not show_input:
            result["input"] = None
        if show_history:
            result["historyEvents"] = [{"EventType": "ExecutionStarted"}]
        return result

    async def list_instances(self, query: InstanceQuery) -> InstancePage:
        self.queries.append(query)
        selected = [
            copy.deepcopy(s)
            for s in self.instances.values()
            if (query.runtime_status is None or s["runtimeStatus"] in query.runtime_status)
            and (query.instance_id_prefix is None or s["instanceId"].startswith(query.instance_id_prefix))
        ]
        start = int(query.continuation_token or 0)
        end = len(selected) if query.top is None else start + query.top
        token = str(end) if end < len(selected) else None
        return InstancePage(selected[start:end], token)

    async def raise_event(self, instance_id: str, event_name: str, input_text: str | None) -> None:
        self._live(instance_id)
        self.events.append((instance_id, event_name, input_text))

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        status = self._live(instance_id)
        status.update(runtimeStatus="Terminated", output=reason)

    async def suspend(self, instance_id: str, reason: str | None) -> None:
        status = self._live(instance_id)
        if status["runtimeStatus"] != "Running":
            raise InvalidOperation(f"Instance '{instance_id}' is not running.")
        status["runtimeStatus"] = "Suspended"

    async def resume(self, instance_id: str, reason: str | None) -> None:
        status = self._live(instance_id)
        if status["runtimeStatus"] != "Suspended":
            raise InvalidOperation(f"Instance '{instance_id}' is not suspended.")
        status["runtimeStatus"] = "Running"

    async def rewind(self, instance_id: str, reason: str | None) -> None:
        # As devhost's own management (devhost/control.py): a failed instance is refused too, since devhost
        # does not rewind; a fake that rewound would let tests pass on behaviour the host does not have.
        status = self._get(instance_id)
        if status["runtimeStatus"] != "Failed":
            raise InstanceGone(f"Instance '{instance_id}' is not failed.")
        raise InvalidOperation("devhost does not support rewind (it is deprecated in Durable Functions)")

    async def restart(self, instance_id: str, new_instance_id: bool) -> str:
        status = self._get(instance_id)
        if not new_instance_id and status["runtimeStatus"] not in TERMINAL:
            raise InstanceExists(f"Instance '{instance_id}' is still running.")
        input_text = json.dumps(status["input"]) if status["input"] is not None else None
        return await self.start_new(status["name"], None if new_instance_id else instance_id, input_text)

    async def purge(self, instance_id: str) -> int:
        status = self._get(instance_id)
        if status["runtimeStatus"] not in TERMINAL:
            raise InvalidOperation(f"Instance '{instance_id}' is still running.")
        del self.instances[instance_id]
        return 1

    async def purge_by(self, query: InstanceQuery) -> int:
        self.queries.append(query)
        doomed = [
            i
            for i, s in self.instances.items()
            if s["runtimeStatus"] in TERMINAL
            and (query.runtime_status is None or s["runtimeStatus"] in query.runtime_status)
        ]
        for instance_id in doomed:
            del self.instances[instance_id]
        return len(doomed)

    async def signal_entity(self, name: str, key: str, operation: str, input_text: str | None) -> None:
        self.signals.append((name, key, operation, input_text))

    async def read_entity(self, name: str, key: str) -> str | None:
        return self.entities.get((name.lower(), key))


Serve = Callable[[web.Application], AbstractAsyncContextManager[str]]


@pytest.fixture
def serve() -> Serve:
    """`async with serve(app) as origin:` runs `app` on a free loopback port for the block."""
    return _serve


@pytest.fixture
def fake_management() -> type[FakeManagement]:
    """The in-memory Management class (test modules cannot import conftest by name)."""
    return FakeManagement
