"""An app that fails to import: the loader must report this file and line."""

import azure.functions as func

app = func.FunctionApp()

value = undefined_name  # type: ignore[name-defined]  # noqa: F821  (line 7: the failure under test)
