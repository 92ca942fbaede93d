"""One error root for devhost.

Every error devhost raises on purpose derives from `HostError`, so the command line can print the message and
exit instead of showing a traceback. Messages say what went wrong and what to do next.
"""

from __future__ import annotations

from pathlib import Path


class HostError(Exception):
    """Root of every error devhost raises on purpose."""


class ConfigError(HostError):
    """host.json or local.settings.json is unreadable or holds a value of the wrong type."""

    def __init__(self, message: str, *, file: str | Path | None = None) -> None:
        self.file: str | None = str(file) if file is not None else None
        super().__init__(f"{self.file}: {message}" if self.file else message)


class AppLoadError(HostError):
    """The function app could not be imported or indexed.

    Carries the user's file and line where the failure started (not a traceback wall) and a one-line cause.
    """

    def __init__(
        self, message: str, *, file: str | Path | None = None, line: int | None = None, cause: str | None = None
    ) -> None:
        self.file: str | None = str(file) if file is not None else None
        self.line = line
        self.cause = cause
        where = self.file or ""
        if where and line is not None:
            where = f"{where}:{line}"
        text = f"{where}: {message}" if where else message
        if cause:
            text = f"{text}: {cause}"
        super().__init__(text)


class StoreError(HostError):
    """The durable store cannot be opened: an unknown store name, a missing or wrong connection setting, an
    unreachable storage account. The message names the setting to fix."""


class RouteTemplateError(HostError):
    """An HTTP trigger's route template cannot be parsed (an unclosed brace, an unknown constraint)."""


class UnsupportedBinding(HostError):
    """A function uses a binding devhost cannot provide (blob, queue, ...). Raised when the function is
    invoked, so the rest of the app still runs."""


class InvocationError(HostError):
    """A function was invoked in a way that cannot work (an HTTP function returned something that is not a
    response, a durable client function is a plain `def`, ...)."""
