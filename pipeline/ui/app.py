"""The UI's Starlette sub-app, mounted by the bridge at ``/ui``.

* ``GET /ui/static/<name>``: the built assets (app.js, app.css, licenses), read once at start-up and
  kept in memory (three small files: a bounded, fixed set). A request whose ``v`` matches the file's
  content hash is cached for a year (the page links them with it), anything else must revalidate.
* ``GET /ui/api/me``: ``{"roles": [...]}``, the caller's roles, so the page shows only the actions
  the API will allow. The roles come from ``request.state.roles`` when the authentication in front of
  the app has set it, and are every role when no authentication is configured (then the API lets
  anyone do anything, and the page should not pretend otherwise).
* ``GET /ui/`` and every other path: the page (``index.html``); the client routes it, and shows its
  own "not found" for a path it does not know.

Every answer carries a strict Content-Security-Policy (scripts, styles and requests from this origin
only, no inline script, no framing), so alert text that reaches the page can never run as code.
"""

from __future__ import annotations

import hashlib
import html
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"
MOUNT_PATH = "/ui"
# The roles of the API's authorization (issue #13): read (GET alerts, groups, silences, status),
# silence (create, update, expire silences), ingest (post alerts), admin (reload, DLQ replay).
ROLES = ("read", "silence", "ingest", "admin")

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}

INDEX_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="ui-base" content="{ui_base}">
<meta name="api-base" content="{api_base}">
<title>alert-pipeline</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{ui_base}/static/app.css?v={css}">
<script type="module" src="{ui_base}/static/app.js?v={js}"></script>
</head>
<body>
<div id="app"><noscript>The alert-pipeline UI needs JavaScript. The API is at {api_base}/api/v2/.</noscript></div>
</body>
</html>
"""


def caller_roles(request: Request) -> list[str]:
    """The roles of the request's caller: those the authentication layer put on ``request.state``,
    or every role when there is none (no authentication configured)."""
    roles = getattr(request.state, "roles", None)
    if roles is None:
        return list(ROLES)
    return sorted(set(roles))


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str  # the first 16 hex digits of the content's SHA-256


def load_assets(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    assets = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        body = path.read_bytes()
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type in ("application/javascript", "text/javascript"):
            media_type += "; charset=utf-8"
        assets[path.name] = Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])
    missing = {"app.js", "app.css"} - assets.keys()
    if missing:
        raise RuntimeError(f"the UI's built assets are missing from {directory}: {sorted(missing)}; "
                           "run deploy/local/setup.sh (it builds them with npm)")
    return assets


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_ui_app(static_dir: Path = STATIC_DIR) -> Starlette:
    """The sub-app to mount at :data:`MOUNT_PATH`."""
    assets = load_assets(static_dir)

    async def index(request: Request) -> Response:
        ui_base = request.scope.get("root_path", "").rstrip("/") or MOUNT_PATH
        api_base = ui_base[: -len(MOUNT_PATH)] if ui_base.endswith(MOUNT_PATH) else ""
        page = INDEX_TEMPLATE.format(ui_base=html.escape(ui_base), api_base=html.escape(api_base),
                                     css=assets["app.css"].version, js=assets["app.js"].version)
        return Response(page, media_type="text/html; charset=utf-8", headers={"cache-control": "no-cache"})

    async def static(request: Request) -> Response:
        asset = assets.get(request.path_params["name"])
        if asset is None:
            return JSONResponse({"error": "not_found", "detail": f"no UI asset {request.path_params['name']!r}"},
                                status_code=404)
        etag = f'"{asset.version}"'
        immutable = request.query_params.get("v") == asset.version
        headers = {"etag": etag,
                   "cache-control": "public, max-age=31536000, immutable" if immutable else "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    async def me(request: Request) -> Response:
        return JSONResponse({"roles": caller_roles(request)}, headers={"cache-control": "no-store"})

    async def unknown_api(request: Request) -> Response:
        return JSONResponse({"error": "not_found", "detail": f"no UI endpoint {request.url.path}"}, status_code=404)

    routes = [
        Route("/static/{name}", static, methods=["GET", "HEAD"]),
        Route("/api/me", me, methods=["GET"]),
        Route("/api/{rest:path}", unknown_api),
        Route("/{path:path}", index, methods=["GET", "HEAD"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders), Middleware(GZipMiddleware, minimum_size=1024)])
