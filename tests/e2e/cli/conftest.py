"""The CLI's end-to-end tests run it against `tests.e2e.batch_host` (devhost + Azurite)."""

from tests.e2e.batch_host import batch_host

__all__ = ["batch_host"]
