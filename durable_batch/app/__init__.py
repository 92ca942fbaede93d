"""The batch framework as a Functions app: settings, shared services, and the blueprint that registers the
HTTP API (`api/`), the orchestrators (`orchestrators/`) and the activities (`activities/`)."""
