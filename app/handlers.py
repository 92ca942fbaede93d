"""Which task handlers the app registers: the built-in ones always, the examples' only when asked for.

The examples pull in libraries the deployment does not carry (numpy: `requirements-examples.txt`) and their
handlers must not be callable in production by accident, so they are imported only under `BATCH_EXAMPLES`.
"""

from __future__ import annotations

from app.settings import Settings, SettingsError
from batch import builtin
from batch.handlers import TaskHandlers


def app_handlers(settings: Settings, own: TaskHandlers | None = None) -> TaskHandlers:
    """The built-in handlers, `own` (the app's), and the examples' when `settings.examples`."""
    handlers = builtin.handlers if own is None else builtin.handlers | own
    if not settings.examples:
        return handlers
    try:
        from examples.handlers import all_handlers
    except ImportError as exc:
        raise SettingsError(
            f"app setting BATCH_EXAMPLES asks for the example handlers, but they cannot be imported ({exc}): "
            "install requirements-examples.txt (and deploy examples/, which .funcignore leaves out), or unset it"
        ) from exc
    return handlers | all_handlers
