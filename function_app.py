"""The Durable Batch function app: the batch framework's blueprint with its built-in task handlers (and the
examples' when the app setting BATCH_EXAMPLES is true).

To run your own tasks, pass your handlers (a `batch.handlers.TaskHandlers` collection) to `app_handlers`.
"""

import os

import azure.durable_functions as df

from app.blueprint import create_blueprint
from app.handlers import app_handlers
from app.monitoring import configure_monitoring
from app.settings import Settings

settings = Settings.from_environ(os.environ)
configure_monitoring(os.environ)
app = df.DFApp()
app.register_functions(create_blueprint(app_handlers(settings), settings))
