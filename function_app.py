"""The Durable Batch function app: the batch framework's blueprint with the example task handlers.

To run your own tasks, register your handlers (a `batch.handlers.TaskHandlers` collection) here instead of,
or beside, the examples'.
"""

import os

import azure.durable_functions as df

from app.blueprint import create_blueprint
from app.settings import Settings
from examples.handlers import all_handlers

app = df.DFApp()
app.register_functions(create_blueprint(all_handlers, Settings.from_environ(os.environ)))
