"""The app settings Durable Batch reads, read once when the app starts and passed to what needs them."""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from durable_batch.batch.errors import BatchError
from durable_batch.batch.paths import CONTAINER_PATTERN
from durable_batch.batch.plan import DEFAULT_PARTITION_SIZE
from durable_batch.batch.pools import MAX_TASK_SLOTS
from durable_batch.lib.azure_storage.account import CONNECTION_SETTING, IDENTITY_SUFFIXES
from durable_batch.storage.results import container_name

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_TASKS = 100_000
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
"""The largest file the files routes move: the Functions host holds a request's or answer's body whole, and
its own request limit is 100 MB."""
DEFAULT_MAX_RESULT_BYTES = 16 * 1024 * 1024
"""The largest result (its JSON, in UTF-8) a task handler or a reduce may return: a result is held whole while it
is measured and stored, and read whole by a reduce, so one far larger belongs in a blob of the handler's own."""
DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024 * 1024
"""The most bytes a command task's output files may sum to: a command that writes more fails and uploads none."""
DEFAULT_INPUTS_CONTAINER = "batch-inputs"
DEFAULT_POOL_SLOTS = 1_000
"""The `default` pool's task slots until a `PUT /api/pools/default` sets them: ten jobs at the default
`maxParallelTasks` (100), or a few at the largest caps people give. A slot is one task running; a batch runs
many of its tasks on threads of one activity call, so this is not the host's activity concurrency."""
FILE_CONTAINERS_SETTING = "BATCH_FILE_CONTAINERS"
# Containers the host and the Durable extension keep for themselves (keys, leases, large messages, devhost's
# commits): never reachable through the files routes, whatever the setting says.
_RESERVED_PREFIXES = ("azure-webjobs-",)
_RESERVED_SUFFIXES = ("-leases", "-applease", "-largemessages", "-devhost")


STORAGE_SETTINGS = frozenset(
    {CONNECTION_SETTING, "BATCH_RESULTS_CONTAINER", *(f"{CONNECTION_SETTING}__{part}" for part in IDENTITY_SUFFIXES)}
)
"""What the storage clients read: the connection (as a string or its identity-based parts) and the container."""

APP_SETTINGS = frozenset(
    {
        *STORAGE_SETTINGS,
        "BATCH_ALLOW_COMMAND_TASKS",
        "BATCH_PARTITION_SIZE",
        "BATCH_MAX_BODY_BYTES",
        "BATCH_MAX_TASKS",
        "BATCH_WORK_DIR",
        "BATCH_COMMAND_USER",
        "BATCH_EXAMPLES",
        FILE_CONTAINERS_SETTING,
        "BATCH_MAX_FILE_BYTES",
        "BATCH_MAX_RESULT_BYTES",
        "BATCH_MAX_OUTPUT_BYTES",
        "BATCH_DEFAULT_POOL_SLOTS",
        "BATCH_SCHEDULE",  # durable_batch/api/schedules.py
        "BATCH_SCHEDULE_TEMPLATE",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",  # durable_batch/app/monitoring.py
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    }
)
"""Every app setting Durable Batch itself reads (the Functions host's own are not listed). The deployment
template sets each of them or the README names it as the user's to set (tests/unit/infra checks both ways)."""


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


def _file_containers(environ: Mapping[str, str]) -> tuple[str, ...]:
    """`BATCH_FILE_CONTAINERS` (comma-separated), by default the results container and `batch-inputs`."""
    raw = environ.get(FILE_CONTAINERS_SETTING, "").strip()
    if not raw:
        return tuple(dict.fromkeys((container_name(environ), DEFAULT_INPUTS_CONTAINER)))
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    for name in names:
        if not CONTAINER_PATTERN.fullmatch(name):
            raise SettingsError(
                f"app setting {FILE_CONTAINERS_SETTING} names {name!r}, which is not a Blob Storage container "
                "name: 3-63 lowercase letters, digits and single hyphens"
            )
        if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
            raise SettingsError(
                f"app setting {FILE_CONTAINERS_SETTING} names {name!r}, a container the Functions host or the "
                "Durable extension keeps for itself; it cannot be reached through the files routes"
            )
    return names


@dataclass(frozen=True)
class CommandUser:
    """The unprivileged OS user command tasks run as (`BATCH_COMMAND_USER`): its name, uid and primary group."""

    name: str
    uid: int
    gid: int

    @classmethod
    def resolve(cls, value: str) -> CommandUser:
        """A user name, or a numeric uid (which need not be in the user database), as the setting gives it."""
        setting = "app setting BATCH_COMMAND_USER"
        if value.isdigit():
            uid = int(value)
            try:
                entry = pwd.getpwuid(uid)
            except KeyError:
                user = cls(value, uid, uid)  # a bare uid, with the group of the same number
            else:
                user = cls(entry.pw_name, entry.pw_uid, entry.pw_gid)
        else:
            try:
                entry = pwd.getpwnam(value)
            except KeyError:
                raise SettingsError(
                    f"{setting} names the user {value!r}, who does not exist on this machine; create it "
                    f"(useradd --system --no-create-home {value}) or give a numeric uid"
                ) from None
            user = cls(entry.pw_name, entry.pw_uid, entry.pw_gid)
        if user.uid == 0:
            raise SettingsError(f"{setting} must name an unprivileged user, not root ({value!r} is uid 0)")
        return user


@dataclass(frozen=True)
class CommandUids:
    """A range of OS user ids, `first` to `last`: each running command gets one of them to itself
    (`durable_batch.activities.command_users`), so commands can reach neither the worker nor each other."""

    first: int
    last: int

    @classmethod
    def parse(cls, value: str) -> CommandUids:
        setting = "app setting BATCH_COMMAND_USER"
        first_text, _, last_text = value.partition("-")
        if not (first_text.strip().isdigit() and last_text.strip().isdigit()):
            raise SettingsError(
                f"{setting} must be a user, a uid, a range of uids (first-last) or @worker, not {value!r}"
            )
        first, last = int(first_text), int(last_text)
        if not 1 <= first <= last <= MAX_UID:
            raise SettingsError(f"{setting}: a range of uids must go up from 1 to at most {MAX_UID:,}, not {value!r}")
        return cls(first, last)


DEFAULT_COMMAND_UIDS = CommandUids(60100, 61099)
"""The uids commands get when the worker runs as root and `BATCH_COMMAND_USER` is not set: above the ids Debian
gives people (1000-59999), below systemd's dynamic users (61184-65519) and `nobody` (65534), and inside the
65,536 ids a container's user namespace usually maps. Ids the user database knows are skipped."""
MAX_UID = 2**31 - 2
WORKER_USER = "@worker"
"""`BATCH_COMMAND_USER=@worker`: commands run as the worker's own user, even when it is root."""


def command_identity(value: str, euid: int) -> CommandUser | CommandUids | None:
    """Who command tasks run as, from `BATCH_COMMAND_USER`: a named user or uid, a range of uids (one each),
    the worker's own user (`@worker`), or, unset, a uid each from `DEFAULT_COMMAND_UIDS` when the worker is root
    (else its own user: only root can switch)."""
    value = value.strip()
    if value == WORKER_USER:
        return None
    if not value:
        return DEFAULT_COMMAND_UIDS if euid == 0 else None
    if "-" in value and value.replace("-", "").replace(" ", "").isdigit():
        return CommandUids.parse(value)
    return CommandUser.resolve(value)


@dataclass(frozen=True)
class Settings:
    """See the README's "Configuration" section for what each one means."""

    storage: Mapping[str, str]
    """The settings the storage clients read (`STORAGE_SETTINGS`)."""
    allow_command_tasks: bool = False
    partition_size: int = DEFAULT_PARTITION_SIZE
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_tasks: int = DEFAULT_MAX_TASKS
    work_dir: Path | None = None
    """Where command tasks get their working folders (default: the system's temporary folder)."""
    command_user: CommandUser | CommandUids | None = None
    """Who command tasks run as (`command_identity`); None runs them as the worker's own user."""
    schedule_template: str | None = None
    """The job template a scheduled run submits: a file shipped with the app, or `blob:<name>` in the
    results container."""
    file_containers: tuple[str, ...] = ("batch-results", DEFAULT_INPUTS_CONTAINER)
    """The containers the files routes reach (`BATCH_FILE_CONTAINERS`)."""
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    """The largest result a task may return (`BATCH_MAX_RESULT_BYTES`); a larger one fails the task."""
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    """What a command task's output files may sum to (`BATCH_MAX_OUTPUT_BYTES`)."""
    examples: bool = False
    """Register the example handlers (`BATCH_EXAMPLES`): for local runs and demos, not production."""
    default_pool_slots: int = DEFAULT_POOL_SLOTS
    """The `default` pool's task slots while no `PUT` has set them (`BATCH_DEFAULT_POOL_SLOTS`)."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        work_dir = environ.get("BATCH_WORK_DIR", "").strip()
        command_user = environ.get("BATCH_COMMAND_USER", "").strip()
        return cls(
            storage={k: v for k, v in environ.items() if k in STORAGE_SETTINGS},
            allow_command_tasks=_flag(environ, "BATCH_ALLOW_COMMAND_TASKS"),
            partition_size=_positive_int(environ, "BATCH_PARTITION_SIZE", DEFAULT_PARTITION_SIZE),
            max_body_bytes=_positive_int(environ, "BATCH_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            max_tasks=_positive_int(environ, "BATCH_MAX_TASKS", DEFAULT_MAX_TASKS),
            work_dir=Path(work_dir) if work_dir else None,
            command_user=command_identity(command_user, os.geteuid()),
            schedule_template=environ.get("BATCH_SCHEDULE_TEMPLATE", "").strip() or None,
            file_containers=_file_containers(environ),
            max_file_bytes=_positive_int(environ, "BATCH_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES),
            max_result_bytes=_positive_int(environ, "BATCH_MAX_RESULT_BYTES", DEFAULT_MAX_RESULT_BYTES),
            max_output_bytes=_positive_int(environ, "BATCH_MAX_OUTPUT_BYTES", DEFAULT_MAX_OUTPUT_BYTES),
            examples=_flag(environ, "BATCH_EXAMPLES"),
            default_pool_slots=min(
                MAX_TASK_SLOTS, _positive_int(environ, "BATCH_DEFAULT_POOL_SLOTS", DEFAULT_POOL_SLOTS)
            ),
        )
