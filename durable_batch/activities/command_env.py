"""The environment a command task sees: the worker's, less anything that looks like a credential, plus the task's.

The rule for what is a credential lives here and nowhere else. It is a filter on names, so it is a courtesy, not a
boundary: a command run as the worker's own user can still read the worker's whole environment from
`/proc/<worker pid>/environ`. The boundary is `BATCH_COMMAND_USER` (see the README's "Command tasks").
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from durable_batch.app.settings import CommandUser

__all__ = ["RUN_ID_VARIABLE", "command_environment", "inherited_environment", "is_secret_name"]

RUN_ID_VARIABLE = "BATCH_TASK_RUN_ID"
"""Set in every command's environment (and so inherited by everything it starts): the run's id, by which the
processes of a run are found again after the worker that started them has died."""

# Substrings of a name (compared in upper case) that mark it as a secret: account keys and connection strings
# (AzureWebJobsStorage), passwords however spelt (DB_PASSWD, MYSQL_PWD), tokens, SAS, DSNs that embed a key.
_SECRET_WORDS = (
    "KEY",
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "PWD",
    "CONNECTION",
    "CONNSTR",
    "CONN_STR",
    "STORAGE",
    "SAS",
    "CREDENTIAL",
    "AUTH",
    "DSN",
)
# Prefixes whose every variable is credential material or a way to get some: the Azure SDKs' service principal
# settings (AZURE_CLIENT_SECRET, AZURE_CLIENT_ID, ...), AzureWebJobs* settings, the managed identity endpoint and
# its header (IDENTITY_*, MSI_*: with them a command could ask for the app's tokens), and App Service's copies
# of every app setting (APPSETTING_*).
_SECRET_PREFIXES = ("AZURE", "IDENTITY_", "MSI_", "APPSETTING_")
# `PWD` and `OLDPWD` are the shell's current folders, not passwords; the worker's are wrong for the command, so
# `PWD` is set to the working folder and `OLDPWD` is dropped.
_CURRENT_FOLDER = frozenset({"PWD", "OLDPWD"})


def is_secret_name(name: str) -> bool:
    """Whether a variable of the worker's environment is withheld from commands, judging by its name."""
    upper = name.upper()
    if upper in _CURRENT_FOLDER:
        return False
    return upper.startswith(_SECRET_PREFIXES) or any(word in upper for word in _SECRET_WORDS)


def inherited_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment less its secrets (and its current folder), as a command task inherits it."""
    return {k: v for k, v in environ.items() if _inherited(k)}


@functools.lru_cache(maxsize=4096)
def _inherited(name: str) -> bool:
    # Asked for every variable of the worker's environment at every command: the names hardly change.
    return name.upper() not in _CURRENT_FOLDER and not is_secret_name(name)


def command_environment(
    environ: Mapping[str, str],
    task_environment: Mapping[str, str],
    *,
    task_id: str,
    folder: Path,
    run_id: str,
    user: CommandUser | None,
) -> dict[str, str]:
    """The whole environment of one run: inherited, then the user's identity, then the task's own variables,
    then what the runner sets (last, so that a task can't pass itself off as another)."""
    env = inherited_environment(environ)
    if user is not None:
        # The worker's HOME is not the command user's to write; the working folder is.
        env.update(HOME=str(folder), USER=user.name, LOGNAME=user.name)
    env.update(task_environment)
    env["PWD"] = str(folder)
    env["BATCH_TASK_ID"] = task_id
    env["BATCH_TASK_WORKING_DIR"] = str(folder)
    env[RUN_ID_VARIABLE] = run_id
    return env
