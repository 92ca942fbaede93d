"""Two function apps in one module: the worker refuses this, so must the loader."""

import azure.functions as func

app = func.FunctionApp()
other = func.FunctionApp()


@app.route(route="x")
def x(req: func.HttpRequest) -> str:
    return "x"
