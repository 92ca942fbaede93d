"""The job API over HTTP (`/api/jobs...`) and scheduled jobs; `register(bp, services)` adds them to the app."""

from durable_batch.api.registration import register

__all__ = ["register"]
