"""The whole batch framework as one Functions blueprint: HTTP API, orchestrators and activities."""

from __future__ import annotations

import azure.durable_functions as df

import activities
import api
import orchestrators
from app.services import Services
from app.settings import Settings
from batch.handlers import TaskHandlers
from lib.azure_storage.account import REQUEST_CLIENT_OPTIONS
from lib.durable_times import install as install_time_reader


def create_blueprint(handlers: TaskHandlers, settings: Settings) -> df.Blueprint:
    """A blueprint to register on the app: `app.register_functions(create_blueprint(handlers, settings))`."""
    install_time_reader()  # the SDK reads every history event's time on every replay: cheaply from now on
    bp = df.Blueprint()
    # The API's requests wait on storage a bounded time (503 past it); activities wait as long as it takes.
    api.register(bp, Services(settings, handlers, REQUEST_CLIENT_OPTIONS))
    orchestrators.register(bp)
    activities.register(bp, Services(settings, handlers))
    return bp
