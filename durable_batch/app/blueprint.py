"""The whole batch framework as one Functions blueprint: HTTP API, orchestrators and activities."""

from __future__ import annotations

import os
from collections.abc import Mapping

import azure.durable_functions as df

from durable_batch import activities, api, orchestrators
from durable_batch.app.handlers import app_handlers
from durable_batch.app.monitoring import configure_monitoring
from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch.handlers import TaskHandlers
from durable_batch.lib.azure_storage.account import REQUEST_CLIENT_OPTIONS
from durable_batch.lib.durable_times import install as install_time_reader


def batch_blueprint(
    handlers: TaskHandlers | None = None,
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
) -> df.Blueprint:
    """The framework for an app's `app.register_functions(batch_blueprint(handlers))`: its task handlers with the
    built-in ones, the settings read from the app settings (`environ`, the process environment unless given) unless
    passed, and the export to Application Insights started when the settings ask for it."""
    environ = os.environ if environ is None else environ
    settings = Settings.from_environ(environ) if settings is None else settings
    configure_monitoring(environ)
    return create_blueprint(app_handlers(handlers), settings)


def create_blueprint(handlers: TaskHandlers, settings: Settings) -> df.Blueprint:
    """A blueprint to register on the app: `app.register_functions(create_blueprint(handlers, settings))`."""
    install_time_reader()  # the SDK reads every history event's time on every replay: cheaply from now on
    bp = df.Blueprint()
    # The API's requests wait on storage a bounded time (503 past it); activities wait as long as it takes.
    api.register(bp, Services(settings, handlers, REQUEST_CLIENT_OPTIONS))
    orchestrators.register(bp)
    activities.register(bp, Services(settings, handlers))
    return bp
