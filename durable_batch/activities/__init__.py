"""Task execution: the activities that run a job's tasks (handlers and command lines) and record results.

`register(bp, services)` defines them on the app's blueprint (see `durable_batch.activities.registration`).
"""

from durable_batch.activities.registration import register

__all__ = ["register"]
