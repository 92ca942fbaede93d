"""The app settings Durable Batch reads, read once when the app starts and passed to what needs them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from batch.errors import BatchError
from batch.plan import DEFAULT_PARTITION_SIZE

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_TASKS = 100_000


class SettingsError(BatchError):
    """An app setting has a value Durable Batch cannot use."""


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise SettingsError(f"app setting {name} must be 'true' or 'false', not {value!r}")


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"app setting {name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise SettingsError(f"app setting {name} must be at least 1, not {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """See the README's "Configuration" section for what each one means."""

    storage: Mapping[str, str]
    """The settings the storage clients read (AzureWebJobsStorage, BATCH_RESULTS_CONTAINER)."""
    allow_command_tasks: bool = False
    partition_size: int = DEFAULT_PARTITION_SIZE
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_tasks: int = DEFAULT_MAX_TASKS
    work_dir: Path | None = None
    """Where command tasks get their working folders (default: the system's temporary folder)."""
    schedule_template: str | None = None
    """The job template a scheduled run submits: a file shipped with the app, or `blob:<name>` in the
    results container."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        work_dir = environ.get("BATCH_WORK_DIR", "").strip()
        return cls(
            storage={k: v for k, v in environ.items() if k in ("AzureWebJobsStorage", "BATCH_RESULTS_CONTAINER")},
            allow_command_tasks=_flag(environ, "BATCH_ALLOW_COMMAND_TASKS"),
            partition_size=_positive_int(environ, "BATCH_PARTITION_SIZE", DEFAULT_PARTITION_SIZE),
            max_body_bytes=_positive_int(environ, "BATCH_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            max_tasks=_positive_int(environ, "BATCH_MAX_TASKS", DEFAULT_MAX_TASKS),
            work_dir=Path(work_dir) if work_dir else None,
            schedule_template=environ.get("BATCH_SCHEDULE_TEMPLATE", "").strip() or None,
        )
