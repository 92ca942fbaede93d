"""Recorded orchestration histories, and their replay through the current orchestrators.

A recording is one job's (or schedule's) every orchestration execution, as the orchestrators of the day wrote
them: the instance, its input, its whole history, and how the execution ended. `replay_problems` takes one
execution and runs each of its episodes again through today's orchestrator, over the history before the
episode and the messages it received, and compares what comes out with what was recorded:

- the same events, one for one: the same kinds, in the same order, with the same sequence numbers and names
  (the SDK's determinism check, plus what it leaves out);
- the same decisions: a scheduled call's input, a timer's time, a sub-orchestration's id and input, an output
  must hold every field the recorded one holds, with the same value. Fields the recorded one lacks may be added
  (an old history's activities are already done; what a new field changes is for new histories);
- the same ending: completed with the same output, failed with the same reason, continued as new with the same
  next input, or still running.

A replay of an old history that would decide differently is what breaks running jobs on a deploy: tasks run
twice, or never, or the orchestration fails its replay. See the README's "Deploying while jobs run".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from devhost import history as h
from devhost.replay import EpisodeInput, FunctionCatalog, run_episode

FORMAT = 1
# Events that come before the episode's own decisions: what the orchestration received.
_ENDS_MESSAGES = h.SCHEDULING_EVENTS | {h.EventType.ORCHESTRATOR_COMPLETED, h.EventType.EXECUTION_COMPLETED}
# Event fields that hold JSON text, compared as values.
_JSON_FIELDS = frozenset({"Input", "Result"})
_UNCOMPARED = frozenset({"IsPlayed"})


@dataclass(frozen=True)
class Execution:
    """One execution of an orchestration instance, as recorded."""

    instance_id: str
    name: str
    parent_instance_id: str | None
    # The context's input as the host passes it (JSON text, or None).
    input_value: str | None
    history: list[dict[str, Any]]
    # How it ended: "Completed", "Failed", "ContinuedAsNew" (with `continued_with`, the next input) or "Running".
    ended: str
    continued_with: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "name": self.name,
            "parentInstanceId": self.parent_instance_id,
            "input": self.input_value,
            "ended": self.ended,
            "continuedWith": self.continued_with,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Execution:
        return cls(
            value["instanceId"],
            value["name"],
            value["parentInstanceId"],
            value["input"],
            value["history"],
            value["ended"],
            value.get("continuedWith"),
        )


@dataclass(frozen=True)
class Recording:
    """A scenario's executions, oldest first."""

    shape: str
    about: str
    executions: list[Execution]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "shape": self.shape,
            "about": self.about,
            "executions": [e.to_json() for e in self.executions],
        }

    @classmethod
    def load(cls, path: Path) -> Recording:
        value = json.loads(path.read_text(encoding="utf-8"))
        if value.get("format") != FORMAT:
            raise ValueError(f"{path}: recording format {value.get('format')!r}, this code reads {FORMAT}")
        return cls(value["shape"], value["about"], [Execution.from_json(e) for e in value["executions"]])

    def save(self, path: Path) -> None:
        # One event per line: a diff of two recordings reads as a diff of histories.
        lines = ["{", f'"format": {FORMAT},', f'"shape": {json.dumps(self.shape)},']
        lines.append(f'"about": {json.dumps(self.about)},')
        lines.append('"executions": [')
        for n, execution in enumerate(self.executions):
            head = {k: v for k, v in execution.to_json().items() if k != "history"}
            lines.append(json.dumps(head, sort_keys=True)[:-1] + ', "history": [')
            events = [json.dumps(e, sort_keys=True) for e in execution.history]
            lines.append(",\n".join(events))
            lines.append("]}" + ("," if n < len(self.executions) - 1 else ""))
        lines += ["]", "}"]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def covers(replayed: Any, recorded: Any, where: str) -> str | None:
    """None when `replayed` holds everything `recorded` holds (dict fields may be added); else what differs."""
    if isinstance(recorded, dict):
        if not isinstance(replayed, dict):
            return f"{where}: recorded an object, replayed {json.dumps(replayed)[:200]}"
        for key, value in recorded.items():
            if key not in replayed:
                return f"{where}.{key}: recorded {json.dumps(value)[:200]}, replayed nothing"
            problem = covers(replayed[key], value, f"{where}.{key}")
            if problem:
                return problem
        return None
    if isinstance(recorded, list):
        if not isinstance(replayed, list) or len(replayed) != len(recorded):
            return f"{where}: recorded {json.dumps(recorded)[:200]}, replayed {json.dumps(replayed)[:200]}"
        for n, (mine, theirs) in enumerate(zip(replayed, recorded, strict=True)):
            problem = covers(mine, theirs, f"{where}[{n}]")
            if problem:
                return problem
        return None
    if replayed != recorded or type(replayed) is not type(recorded):
        return f"{where}: recorded {json.dumps(recorded)[:200]}, replayed {json.dumps(replayed)[:200]}"
    return None


def _value(field: str, text: Any) -> Any:
    if field in _JSON_FIELDS and isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _compare_event(replayed: dict[str, Any], recorded: dict[str, Any], where: str) -> str | None:
    if replayed["EventType"] != recorded["EventType"]:
        kinds = h.EventType(recorded["EventType"]).name, h.EventType(replayed["EventType"]).name
        return f"{where}: recorded {kinds[0]}, replayed {kinds[1]}"
    kind = h.EventType(recorded["EventType"]).name
    # The name first: a call of another function reads better as that than as the other input it has.
    for field, value in sorted(recorded.items(), key=lambda item: item[0] != "Name"):
        if field in _UNCOMPARED:
            continue
        if field not in replayed:
            return f"{where} ({kind}).{field}: recorded {json.dumps(value)[:200]}, replayed nothing"
        problem = covers(_value(field, replayed[field]), _value(field, value), f"{where} ({kind}).{field}")
        if problem:
            return problem
    return None


def episodes(history: Sequence[dict[str, Any]]) -> list[tuple[int, int]]:
    """(start, stop) of each episode in a history: from one OrchestratorStarted to the next."""
    starts = [n for n, e in enumerate(history) if e["EventType"] == h.EventType.ORCHESTRATOR_STARTED]
    return [(start, stop) for start, stop in zip(starts, [*starts[1:], len(history)], strict=True)]


def replay_problems(
    execution: Execution, orchestrators: dict[str, Callable[..., Any]], catalog: FunctionCatalog
) -> list[str]:
    """Replay each episode of `execution` through today's orchestrator; what it decided differently (nothing:
    an empty list)."""
    orchestrator = orchestrators[execution.name]
    history = execution.history
    spans = episodes(history)
    for number, (start, stop) in enumerate(spans, 1):
        recorded = history[start:stop]
        messages = []
        for event in recorded[1:]:
            if event["EventType"] in _ENDS_MESSAGES:
                break
            messages.append(event)
        episode = EpisodeInput(
            execution.instance_id,
            execution.name,
            execution.instance_id,
            execution.parent_instance_id,
            execution.input_value,
            history[:start],
            messages,
            datetime.fromisoformat(recorded[0]["Timestamp"]),
        )
        result = run_episode(orchestrator, episode, catalog)
        where = f"{execution.instance_id} episode {number} of {len(spans)}"
        recorded_failure = (
            recorded[-1]["EventType"] == h.EventType.EXECUTION_COMPLETED
            and recorded[-1].get("OrchestrationStatus") == h.OrchestrationStatus.FAILED
        )
        if result.outcome.status == "Failed" and not recorded_failure:
            return [f"{where}: the replay failed: {result.outcome.result}"]
        for n in range(max(len(recorded), len(result.events))):
            if n >= len(result.events):
                return [f"{where}: replayed {len(result.events)} events, recorded {len(recorded)}"]
            if n >= len(recorded):
                extra = h.EventType(result.events[n]["EventType"]).name
                return [f"{where}: replayed an event more than recorded, {extra} {result.events[n].get('Name', '')}"]
            problem = _compare_event(result.events[n], recorded[n], f"{where}, event {n}")
            if problem:
                return [problem]
        last = number == len(spans)
        expected = execution.ended if last else "Running"
        outcome = result.outcome.status
        if expected in ("Completed", "Failed"):
            continue  # the ExecutionCompleted event, compared above, says how it ended
        if outcome != expected:
            return [f"{where}: recorded {expected}, replayed {outcome}"]
        if outcome == "ContinuedAsNew":
            problem = covers(
                _value("Input", result.outcome.result), _value("Input", execution.continued_with), f"{where} next input"
            )
            if problem:
                return [problem]
    return []
