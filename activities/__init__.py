"""This app's task handlers: what its jobs' tasks run, as activities of the framework's batches.

The reference deployment has none of its own but the examples' (`examples/`), and those only when the app setting
`BATCH_EXAMPLES` is `true`: they pull in libraries a deployment does not carry (numpy, `requirements-examples.txt`)
and must not be callable in production by accident. An app of your own puts its handler modules here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from durable_batch import Settings, SettingsError, TaskHandlers


def app_handlers(environ: Mapping[str, str] | None = None) -> TaskHandlers:
    """The handlers `function_app.py` registers (the built-in ones come with the framework)."""
    settings = Settings.from_environ(os.environ if environ is None else environ)
    if not settings.examples:
        return TaskHandlers()
    try:
        from examples.handlers import all_handlers
    except ImportError as exc:
        raise SettingsError(
            f"app setting BATCH_EXAMPLES asks for the example handlers, but they cannot be imported ({exc}): "
            "install requirements-examples.txt (and deploy examples/, which .funcignore leaves out), or unset it"
        ) from exc
    return all_handlers
