"""Task execution: the activities that run a job's tasks (handlers and command lines) and record results.

`register(bp, services)` defines them on the app's blueprint (see `activities.registration`).
"""

from activities.registration import register

__all__ = ["register"]
