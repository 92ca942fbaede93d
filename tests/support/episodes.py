"""One orchestration run episode by episode on devhost's pure replay core, for unit tests of orchestrator
functions: complete its activities and fire its timers by hand, with the orchestration's clock at each timer."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from devhost import history as h
from devhost.replay import ActivityWork, EpisodeInput, EpisodeResult, FunctionCatalog, TimerWork, run_episode

T0 = datetime(2030, 1, 1, tzinfo=UTC)


class Episodes:
    """The orchestration `name` (`orchestrator`, calling `activities`) started with `value` at `T0`."""

    def __init__(
        self, orchestrator: Callable[..., Any], name: str, value: Any, activities: Sequence[str], now: datetime = T0
    ) -> None:
        self.orchestrator = orchestrator
        self.name = name
        self.catalog = FunctionCatalog([name], list(activities))
        self.input_text = json.dumps(value)
        self.history: list[dict[str, Any]] = []
        self.now = now
        self.pending = [h.execution_started(now, name=name, instance_id="i", execution_id="i", input_text=None)]

    def episode(self) -> EpisodeResult:
        episode = EpisodeInput("i", self.name, "i", None, self.input_text, self.history, self.pending, self.now)
        result = run_episode(self.orchestrator, episode, self.catalog)
        self.history = self.history + result.events
        self.pending = []
        return result

    def complete(self, work: ActivityWork, value: Any) -> EpisodeResult:
        """The activity returned `value`; the next episode."""
        self.pending = [h.task_completed(self.now, work.seq, json.dumps(value))]
        return self.episode()

    def fire(self, timer: TimerWork) -> EpisodeResult:
        """The timer fired (the clock moved to it); the next episode."""
        self.now = timer.fire_at
        self.pending = [h.timer_fired(self.now, timer.seq, h.timestamp(timer.fire_at))]
        return self.episode()


def only(result: EpisodeResult, kind: type) -> Any:
    """The episode's one piece of work, of `kind`."""
    assert len(result.work) == 1 and isinstance(result.work[0], kind), result.work
    return result.work[0]
