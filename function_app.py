"""The reference deployment of Durable Batch: the framework's blueprint (`durable_batch`) with this app's task
handlers (`activities/`) and orchestrations (`orchestrators/`): the examples' when the app setting BATCH_EXAMPLES
is true.

An app of your own looks the same: its handlers, and `app.register_functions(batch_blueprint(handlers))`.
"""

import azure.durable_functions as df

from activities import app_handlers
from durable_batch import batch_blueprint
from orchestrators import app_orchestrations

app = df.DFApp()
app.register_functions(batch_blueprint(app_handlers()))
app.register_functions(app_orchestrations())
