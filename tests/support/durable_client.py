"""A fake of the Durable Functions client, for operations that start jobs and read their orchestrations: the
calls a submit makes (`start_new`, `get_status`), over a dict of instance statuses; and `Status`, the shape of
the SDK's status object, for fakes of the reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from durable_batch.batch import wire

CREATED = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@dataclass
class Status:
    """What the SDK's `get_status` answers, as the operations read it."""

    runtime_status: str | None
    custom_status: Any = None
    output: Any = None
    created_time: datetime | None = CREATED
    last_updated_time: datetime | None = CREATED
    input_: Any = None
    historyEvents: list[dict[str, Any]] | None = None  # the SDK keeps the management API's name


class FakeDurable:
    """Starts job orchestrations (only those: a submit starts nothing else) and answers their status. A start
    of an instance that is pending or running is refused, as the Durable runtime refuses it."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self.outputs: dict[str, Any] = {}
        self.started: list[str] = []

    async def start_new(self, name: str, instance_id: str, data: Any) -> str:
        assert name == wire.JOB_ORCHESTRATOR
        if self.statuses.get(instance_id) in ("Pending", "Running"):
            raise RuntimeError("an instance with this id is running")
        self.statuses[instance_id] = "Running"
        self.started.append(instance_id)
        return instance_id

    def complete(self, instance_id: str, output: Any) -> None:
        """The instance returned `output` (a job orchestrator's summary)."""
        self.statuses[instance_id] = "Completed"
        self.outputs[instance_id] = output

    async def get_status(self, instance_id: str, show_input: bool = False) -> Any:
        return SimpleNamespace(
            runtime_status=self.statuses.get(instance_id),
            custom_status=None,
            output=self.outputs.get(instance_id),
            created_time=None,
            last_updated_time=None,
            input_=None,
        )
