"""How the Durable Functions SDK reads the times in a history, made fast.

The SDK reads the `Timestamp` of every history event with dateutil's general parser (`dateutil.parser.parse`),
about 130 µs a call on this project's machines. An orchestration replays its whole history at every episode, so
a partition whose tasks get a call each (about 140 events) spent two thirds of each replay reading times, here
and in Azure alike. The extension and devhost write ISO 8601 times (`2026-12-07T02:05:20.1234567Z`), which
`datetime.fromisoformat` reads to the same value in under a microsecond. `install` gives the SDK's history
events and status objects that reader; text it cannot read still goes to dateutil, so nothing the SDK read
before reads differently. It changes nothing when the SDK no longer reads times this way (the check is on the
very function it replaces), and `tests/unit/app/test_durable_times.py` fails then, so the change is seen.

The app installs it when its blueprint is made (`durable_batch.app.blueprint`), so replays cost less in Azure; devhost
installs it for any app it runs (`devhost.replay.use_fast_timestamp_parsing`). It replaces a module global of the SDK in
the process, changing no file of it.
"""

from __future__ import annotations

from datetime import datetime
from importlib import import_module
from types import ModuleType

from dateutil.parser import parse as dateutil_parse

__all__ = ["READERS", "install", "parse_time"]

READERS: tuple[ModuleType, ...] = tuple(
    import_module(f"azure.durable_functions.models.{name}")
    for name in ("history.HistoryEvent", "DurableOrchestrationStatus")
)
"""The SDK's modules that read times with `dt_parse`: every history event, and every status a client reads."""


def parse_time(text: str) -> datetime:
    """`text` as dateutil reads it: ISO 8601 the fast way, anything else by dateutil itself."""
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        parsed: datetime = dateutil_parse(text)
        return parsed


def install() -> list[str]:
    """Give the SDK's readers of times `parse_time`; the names of the modules changed (none the second time)."""
    changed = []
    for module in READERS:
        if getattr(module, "dt_parse", None) is dateutil_parse:
            module.dt_parse = parse_time  # type: ignore[attr-defined]
            changed.append(module.__name__)
    return changed
