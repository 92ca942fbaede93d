"""The whole batch framework as one Functions blueprint: HTTP API, orchestrators and activities."""

from __future__ import annotations

import azure.durable_functions as df

import activities
import api
import orchestrators
from app.services import Services
from app.settings import Settings
from batch.handlers import TaskHandlers


def create_blueprint(handlers: TaskHandlers, settings: Settings) -> df.Blueprint:
    """A blueprint to register on the app: `app.register_functions(create_blueprint(handlers, settings))`."""
    services = Services(settings, handlers)
    bp = df.Blueprint()
    api.register(bp, services)
    orchestrators.register(bp)
    activities.register(bp, services)
    return bp
