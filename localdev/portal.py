"""The pages `make run` serves beside the API: the document, its reference page and the console.

- `GET /openapi.json`: docs/openapi.json, its `servers` aimed at the address the request used;
- `GET /docs`: the API reference (Swagger UI from the `swagger-ui-bundle-v2` package, served
  from the virtualenv: no CDN, works offline);
- `GET /console` (and `/console/...`): the campaign console (console/ in the repo).

Anything else is not ours: `handle` returns None and the request goes to the gateway. No API
route starts with these paths (tests/api checks the declaration), so nothing is shadowed.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path

from swagger_ui_bundle import swagger_ui_path

from localdev.web import Request, Response, json_response
from tools.templates import Route

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
CONSOLE_DIR = ROOT / "console"
DOCS_PAGE = Path(__file__).resolve().parent / "docs_page"
# Of the bundle, only what the page loads.
SWAGGER_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")
HTML_HEADERS = [
    ("Cache-Control", "no-store"),
    # The pages load nothing from elsewhere; the console talks only to this origin.
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
]


SWAGGER_DIR = Path(str(swagger_ui_path))


def _file(path: Path) -> Response:
    if not path.is_file():
        error = {"code": "NOT_FOUND", "message": f"no such file {path.name}", "request_id": ""}
        return json_response(404, {"error": error})
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "text/javascript"):
        kind += "; charset=utf-8"
    return Response(200, path.read_bytes(), [("Content-Type", kind), *HTML_HEADERS])


def document(request: Request) -> Response:
    """The API's document, with the server the caller reached (another port, another host)."""
    doc = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    host = request.header("Host")
    if host:
        doc["servers"] = [{"url": f"http://{host}", "description": "this local stack"}]
    return json_response(200, doc, [("Cache-Control", "no-store")])


def disagreements(routes: list[Route], document: Path = DOCUMENT) -> list[str]:
    """Where the template's routes (what the gateway serves) and the API's document differ:
    a route missing on either side, or served with other auth. Empty when they agree."""
    doc = json.loads(document.read_text(encoding="utf-8"))
    documented = {}
    for path, methods in doc.get("paths", {}).items():
        for method, spec in methods.items():
            gateway_path = path.replace("{", "[").replace("}", "]")
            documented[(method.upper(), gateway_path)] = bool(spec.get("security"))
    served = {(r.method, r.path): r.auth_type.upper() != "ANONYMOUS" for r in routes}
    lines = [
        f"{m} {p} is served but not in docs/openapi.json"
        for m, p in sorted(set(served) - set(documented))
    ]
    lines += [
        f"{m} {p} is in docs/openapi.json but not served"
        for m, p in sorted(set(documented) - set(served))
    ]
    for key in sorted(set(served) & set(documented)):
        if served[key] != documented[key]:
            auth = "signed" if served[key] else "anonymous"
            lines.append(f"{key[0]} {key[1]} is served {auth}, docs/openapi.json says otherwise")
    return lines


def handle(request: Request) -> Response | None:
    """The answer for one of our paths, or None to let the gateway have the request."""
    path = request.path
    if request.method not in ("GET", "HEAD"):
        return None
    if path == "/openapi.json":
        return document(request)
    if path in ("/docs", "/docs/"):
        return _file(DOCS_PAGE / "index.html")
    if path == "/docs/init.js":
        return _file(DOCS_PAGE / "init.js")
    if path.startswith("/docs/") and path[len("/docs/") :] in SWAGGER_FILES:
        return _file(SWAGGER_DIR / path[len("/docs/") :])
    if path in ("/console", "/console/"):
        return _file(CONSOLE_DIR / "index.html")
    if path.startswith("/console/"):
        name = path[len("/console/") :]
        if "/" in name or name.startswith("."):
            return None
        return _file(CONSOLE_DIR / name)
    return None
