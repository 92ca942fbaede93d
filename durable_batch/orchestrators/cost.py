"""An orchestration's durable work, read from its own history (`durable_batch.batch.cost`), and the storage requests its
activities reported, summed as their outputs come.

A pure function of the history the episode was given, so it is the same on every replay: safe in an output
and in a custom status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.history import HistoryEventType

from durable_batch.batch.cost import Cost, reported_counts, storage_counts, summed

_CLOSING_EVENTS = 2
"""What an orchestration's last episode adds once it returns: its OrchestratorCompleted and ExecutionCompleted."""


def history_cost(context: df.DurableOrchestrationContext, *, returning: bool = False, signals: int = 0) -> Cost:
    """One orchestration's durable work so far: its episodes (each begins with an OrchestratorStarted event),
    the events in its history, the events its episodes replayed in all (each episode goes through the whole
    history up to its own end), the activity calls (a retry is a call of its own) and timers it scheduled.

    `returning`: the orchestration returns in this episode, so its history gets its closing events too, and an
    event for each of the `signals` it sends on its way out. Calls and timers an episode schedules are not in
    the history it is given: a running orchestration's figures lag by those of its last episode.
    """
    histories = context.histories
    starts: list[int] = []
    calls = timers = 0
    for index, event in enumerate(histories):
        kind = event.event_type
        if kind == HistoryEventType.ORCHESTRATOR_STARTED:
            starts.append(index)
        elif kind == HistoryEventType.TASK_SCHEDULED:
            calls += 1
        elif kind == HistoryEventType.TIMER_CREATED:
            timers += 1
    length = len(histories)
    return Cost(
        orchestrations=1,
        episodes=len(starts),
        history_events=length + (_CLOSING_EVENTS + signals if returning else 0),
        replayed_events=sum(starts[1:]) + length if starts else 0,
        activity_calls=calls,
        timers=timers,
    )


def _reported_counts(output: object) -> dict[str, int]:
    """The storage requests an activity's output reports (`storage`), by kind; one that reports none (an older
    activity's, a failure) costs nothing here."""
    if isinstance(output, Mapping) and "storage" in output:
        return storage_counts(output["storage"])
    return {}


def reported(output: object) -> Cost:
    """The storage requests an activity's output reports, as a cost (`_reported_counts`)."""
    return Cost.of_storage(_reported_counts(output))


class StorageTally:
    """The storage requests an orchestration's activities reported, summed as their outputs come.

    A partition adds an output and shows its cost at every step of every replay, so both are cheap: outputs are
    summed as plain counts (only the kinds an output names are looked at), and the cost shown is composed again
    only after a count changed (`cost_json`)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._shown: tuple[Cost, dict[str, Any]] | None = None  # (what it was composed with, the JSON)

    def add(self, output: object) -> None:
        # (An older activity's output, a failure, reports nothing: it costs nothing here.)
        for kind, count in reported_counts(output.get("storage") if isinstance(output, Mapping) else None):
            self._counts[kind] = self._counts.get(kind, 0) + count
            self._shown = None

    @property
    def cost(self) -> Cost:
        return Cost.of_storage(self._counts)

    def cost_json(self, own: Cost) -> dict[str, Any]:
        """`(own + self.cost).to_json()`, composed again only when `own` or a count changed. The same dict is
        returned until then: callers must not change it."""
        if self._shown is None or self._shown[0] is not own:
            self._shown = (own, (own + self.cost).to_json())
        return self._shown[1]


def cost_json(
    context: df.DurableOrchestrationContext, *parts: Cost, returning: bool = False, signals: int = 0
) -> dict[str, Any]:
    """The `cost` an orchestration reports: its own history's (`history_cost`), plus `parts` (its activities'
    storage requests, what its children reported)."""
    return (history_cost(context, returning=returning, signals=signals) + summed(parts)).to_json()
