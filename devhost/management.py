"""The durable management surface that devhost's HTTP layer serves.

The HTTP layer (`devhost.http`) turns the Durable Functions RPC and webhook requests into calls on this
Protocol; the engine implements it. Keeping it a Protocol lets the HTTP layer be tested against a fake and
lets the engine change without touching routing.

Payload conventions follow ../shared/reference/durable-protocol.md section 2.12: `input_text` values are JSON
text exactly as they are to be stored (the HTTP layer applies `json.dumps(json.loads(body))`), and status
dicts are the extension's status JSON (`name`, `instanceId`, `runtimeStatus`, ...), ready to serialise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class ManagementError(Exception):
    """Root of the errors the management surface raises; the HTTP layer maps each to a status code."""


class UnknownFunction(ManagementError):
    """No orchestrator (or entity) with that name: HTTP 400, message as the extension words it."""


class InstanceNotFound(ManagementError):
    """No instance with that id: HTTP 404."""


class InstanceGone(ManagementError):
    """The instance is in a state that refuses the operation (finished, for example): HTTP 410."""


class InstanceExists(ManagementError):
    """start_new with the id of an instance that is Running or Pending: HTTP 409 (the extension gives 500)."""


class InvalidOperation(ManagementError):
    """The operation is not valid for the instance's state (suspend a non-running one, ...): HTTP 400."""


@dataclass(frozen=True)
class InstanceQuery:
    """Filter for listing or purging instances. `None` means "no filter" for each field."""

    created_from: datetime | None = None
    created_to: datetime | None = None
    runtime_status: frozenset[str] | None = None
    instance_id_prefix: str | None = None
    top: int | None = None
    continuation_token: str | None = None


@dataclass(frozen=True)
class InstancePage:
    statuses: list[dict[str, Any]]
    continuation_token: str | None


class Management(Protocol):
    """Everything the management HTTP API needs from the engine. All methods are safe to call from the host's
    event loop; implementations must not block it for long."""

    async def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        """Start orchestrator `name`; returns the instance id (generated when `instance_id` is None).
        Raises UnknownFunction, InstanceExists."""
        ...

    async def get_status(
        self,
        instance_id: str,
        *,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> dict[str, Any] | None:
        """The status JSON, or None when the instance does not exist."""
        ...

    async def list_instances(self, query: InstanceQuery) -> InstancePage: ...

    async def raise_event(self, instance_id: str, event_name: str, input_text: str | None) -> None:
        """Raises InstanceNotFound, InstanceGone."""
        ...

    async def terminate(self, instance_id: str, reason: str | None) -> None:
        """Raises InstanceNotFound, InstanceGone."""
        ...

    async def suspend(self, instance_id: str, reason: str | None) -> None: ...

    async def resume(self, instance_id: str, reason: str | None) -> None: ...

    async def rewind(self, instance_id: str, reason: str | None) -> None: ...

    async def restart(self, instance_id: str, new_instance_id: bool) -> str:
        """Start the same orchestrator with the same input; returns the id used."""
        ...

    async def purge(self, instance_id: str) -> int:
        """Delete a finished instance's history and status; returns the number deleted (0 or 1).
        Raises InstanceNotFound, InvalidOperation (still running)."""
        ...

    async def purge_by(self, query: InstanceQuery) -> int: ...

    async def signal_entity(self, name: str, key: str, operation: str, input_text: str | None) -> None: ...

    async def read_entity(self, name: str, key: str) -> str | None:
        """The entity's state as JSON text, or None when it does not exist."""
        ...
