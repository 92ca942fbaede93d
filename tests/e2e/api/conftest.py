"""The API's end-to-end tests run against `tests.e2e.batch_host`."""

from tests.e2e.batch_host import batch_host

__all__ = ["batch_host"]
