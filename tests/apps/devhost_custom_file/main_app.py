"""An app in a file named by PYTHON_SCRIPT_FILE_NAME."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="ping")
def ping(req: func.HttpRequest) -> str:
    return "pong"
