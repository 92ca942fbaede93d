"""The dashboard's files, loaded once, and the page that links them. Pure apart from `load`, which reads the
package's own `static/` folder.

A request names a file; it is looked up among the files loaded at start-up, never joined to a path, so no
name (`../app.py`, `%2e%2e/`, an absolute path) can reach anything outside the folder.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

__all__ = ["INDEX", "Asset", "Assets", "load"]

STATIC = Path(__file__).resolve().parent / "static"
INDEX = "index.html"
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
_LINK = "{{asset:"  # `{{asset:dashboard.js}}` in the page: that file's versioned URL


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    mimetype: str
    version: str
    """A hash of the body: the `ETag`, and the `v=` of links, so a changed file is fetched anew."""


@dataclass(frozen=True)
class Assets:
    files: Mapping[str, Asset]

    def get(self, name: str) -> Asset | None:
        """The file called `name` exactly, or None: nothing else is looked up."""
        return self.files.get(name)

    def page(self, base: str, api_root: str, key: str | None) -> str:
        """The dashboard page with its links filled in: each `{{asset:NAME}}` becomes `base/NAME?v=...`
        (with `code=` when the page was opened with a key, since a browser sends no header for a script or a
        style sheet), and `{{api}}` the API's path."""
        text = self.files[INDEX].body.decode("utf-8")
        out: list[str] = []
        rest = text
        while (start := rest.find(_LINK)) >= 0:
            end = rest.index("}}", start)
            name = rest[start + len(_LINK) : end]
            query = {"v": self.files[name].version, **({"code": key} if key else {})}
            out += [rest[:start], html.escape(f"{base}/{name}?{urlencode(query)}")]
            rest = rest[end + 2 :]
        out.append(rest)
        return "".join(out).replace("{{api}}", html.escape(api_root))


def load(folder: Path = STATIC) -> Assets:
    """Every file of `folder` (not its subfolders) with a known type."""
    files: dict[str, Asset] = {}
    for path in sorted(folder.iterdir()):
        mimetype = _TYPES.get(path.suffix)
        if path.is_file() and mimetype is not None:
            body = path.read_bytes()
            files[path.name] = Asset(path.name, body, mimetype, hashlib.sha256(body).hexdigest()[:16])
    return Assets(files)
