"""The UI's sub-app in process: page, assets, caching, security headers, and the roles endpoint in both
branches (no authentication configured; roles set on request.state by an authentication layer)."""

from __future__ import annotations

import hashlib
import re

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.ui import MOUNT_PATH, ROLES, build_ui_app
from pipeline.ui.app import SECURITY_HEADERS, STATIC_DIR, load_assets


class SetRoles:
    """What the authentication layer will do: put the caller's roles on request.state."""

    def __init__(self, app: ASGIApp, roles: list[str]) -> None:
        self.app, self.roles = app, roles

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["roles"] = self.roles
        await self.app(scope, receive, send)


def client(roles: list[str] | None = None, root_path: str = "") -> TestClient:
    middleware = [] if roles is None else [Middleware(SetRoles, roles=roles)]
    app = Starlette(routes=[Mount(MOUNT_PATH, app=build_ui_app())], middleware=middleware)
    return TestClient(app, root_path=root_path)


def test_roles_without_authentication_are_every_role():
    answer = client().get("/ui/api/me")
    assert answer.status_code == 200
    assert answer.json() == {"roles": list(ROLES)}
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("roles", [["read"], ["silence", "read"], []])
def test_roles_from_request_state(roles):
    assert client(roles).get("/ui/api/me").json() == {"roles": sorted(roles)}


def test_page_for_every_client_route_links_hashed_assets():
    ui = client()
    for path in ("/ui/", "/ui/alerts", "/ui/silences", "/ui/silences/new", "/ui/silences/abc/edit", "/ui/nope"):
        answer = ui.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["cache-control"] == "no-cache"
    page = ui.get("/ui/alerts").text
    js = hashlib.sha256((STATIC_DIR / "app.js").read_bytes()).hexdigest()[:16]
    assert f'<script type="module" src="/ui/static/app.js?v={js}"></script>' in page
    assert '<meta name="ui-base" content="/ui">' in page and '<meta name="api-base" content="">' in page
    # no inline script (the CSP forbids it) and nothing from another origin
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "http" not in page.replace('http-equiv', '')


def test_ui_without_slash_redirects():
    answer = client().get("/ui", follow_redirects=False)
    assert answer.status_code in (307, 308) and answer.headers["location"].endswith("/ui/")


def test_behind_a_prefix_the_page_names_both_bases():
    page = client(root_path="/proxy").get("/ui/alerts").text
    assert '<meta name="ui-base" content="/proxy/ui">' in page and '<meta name="api-base" content="/proxy">' in page


def test_assets_cache_and_revalidate():
    ui = client()
    version = load_assets()["app.js"].version
    hashed = ui.get(f"/ui/static/app.js?v={version}")
    assert hashed.status_code == 200 and hashed.content == (STATIC_DIR / "app.js").read_bytes()
    assert hashed.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = ui.get("/ui/static/app.js")
    assert plain.headers["cache-control"] == "no-cache"
    assert ui.get("/ui/static/app.js", headers={"if-none-match": plain.headers["etag"]}).status_code == 304
    assert ui.get("/ui/static/app.css").headers["content-type"] == "text/css; charset=utf-8"
    compressed = ui.get("/ui/static/app.js", headers={"accept-encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip"


@pytest.mark.parametrize("path", ["/ui/static/nope.js", "/ui/static/..%2Fapp.py", "/ui/static/../app.py"])
def test_unknown_assets_are_404(path):
    answer = client().get(path)
    assert answer.status_code == 404 or "text/html" in answer.headers["content-type"]
    assert b"import hashlib" not in answer.content


def test_unknown_ui_endpoint_is_json_404():
    answer = client().get("/ui/api/nope")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_security_headers_on_every_answer():
    ui = client()
    for path in ("/ui/alerts", "/ui/static/app.js", "/ui/api/me", "/ui/static/nope"):
        headers = ui.get(path).headers
        for name, value in SECURITY_HEADERS.items():
            assert headers[name] == value, (path, name)
    assert "script-src 'self';" in SECURITY_HEADERS["content-security-policy"]
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["content-security-policy"]


def test_missing_build_is_a_clear_error(tmp_path):
    (tmp_path / "app.js").write_text("")
    with pytest.raises(RuntimeError, match=r"missing .*app\.css.*setup\.sh"):
        build_ui_app(tmp_path)
