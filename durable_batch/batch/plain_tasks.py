"""Whether a job's tasks are all plain handler tasks, known without reading them.

A partition's plan (`wire.PartitionPlan`) holds what differs between its tasks: dependencies, kinds (command,
async), retry counts of their own, rate limits. For most large jobs nothing does: every task calls a handler
with an input, and the plan is the same for every partition but its size. Knowing that from the spec alone
saves reading and building each partition's tasks to plan it (a million of them, for a million-task job).

- Inline tasks are in the spec: they are looked at, once.
- A JSON Lines source was read whole at submit: the check noted the handlers its lines name when every line
  is a plain task (`resolved.plainHandlers`, `durable_batch.operations.sources`); a source submitted before that
  was noted is not known to be plain.
- A sweep's or a task-per-file factory's tasks are its `repeatTask` template filled in: plain when the template
  is, and its handler has no placeholder.

Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_batch.batch.spec import JobSpec

__all__ = ["PLAIN_TEMPLATE_FIELDS", "plain_handlers"]

PLAIN_TEMPLATE_FIELDS = frozenset({"id", "handler", "input"})
"""The fields of a plain task's template: a template naming any other (a command line, dependencies, its own
retry count, a rate limit key, time limit, ...) is taken as not plain, whether or not the plan would differ."""


def plain_handlers(spec: JobSpec) -> frozenset[str] | None:
    """The handlers a job's tasks call when every one of them is a handler task without dependencies, without
    a retry count other than the job's and without a rate limit (and the job has none); None when a task may
    differ, or when that is not known without reading its tasks."""
    if spec.rate_limit_key is not None:
        return None  # every task's starts count against it: the plan names the limit of each
    factory = spec.factory
    if factory is None:
        return _inline(spec)
    if factory["type"] == "jsonLines":
        resolved = factory["resolved"]
        named = resolved.get("plainHandlers")
        if not isinstance(named, list) or resolved.get("dependencies"):
            return None
        return frozenset(str(name) for name in named)
    return _template(factory.get("repeatTask"))


def _inline(spec: JobSpec) -> frozenset[str] | None:
    named: set[str] = set()
    for task in spec.tasks:
        if (
            task.handler is None
            or task.command_line is not None
            or task.has_dependencies
            or spec.rate_limit_key_for(task) is not None
            or spec.retry_count_for(task) != spec.max_task_retry_count
        ):
            return None
        named.add(task.handler)
    return frozenset(named)


def _template(template: Mapping[str, Any] | None) -> frozenset[str] | None:
    if not isinstance(template, Mapping) or not template.keys() <= PLAIN_TEMPLATE_FIELDS:
        return None
    handler = template.get("handler")
    if not isinstance(handler, str) or "{" in handler or "}" in handler:
        return None  # no handler, or one a placeholder may change from task to task
    return frozenset({handler})
