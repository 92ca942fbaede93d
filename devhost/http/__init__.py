"""devhost's HTTP layer: the app's HTTP triggers and the Durable management API, on aiohttp."""

from devhost.http.app import HttpRoute, build_http_app, http_routes
from devhost.http.keys import KeySet
from devhost.http.management_api import ManagementApi
from devhost.http.routes import Router, RouteTemplate, split_path

__all__ = [
    "HttpRoute",
    "KeySet",
    "ManagementApi",
    "RouteTemplate",
    "Router",
    "build_http_app",
    "http_routes",
    "split_path",
]
