"""The access layer in front of every endpoint: authentication, roles, composition with the sources'
own authentication, body limits, response headers, reload; over the real bridge and API apps."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from datetime import datetime, timedelta, timezone

import bcrypt
import orjson
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from pipeline.amconfig import parse_config
from pipeline.api.errors import ApiError, handle_api_error
from pipeline.api.handlers import AlertmanagerApi
from pipeline.api.view import ApiView
from pipeline.runtime.raw_writer import RawWriter
from pipeline.bridge.app import Bridge, BridgeConfig, build_app
from pipeline.bridge.auth import sign
from pipeline.bridge.sources import Source, SourceRegistry
from tests.unit.api.fakes import AcknowledgingWriter
from pipeline.web import access
from pipeline.web.access import (
    AccessMiddleware,
    AccessPolicy,
    Authenticator,
    Requirement,
    request_identity,
    request_roles,
    require_role,
)
from pipeline.web.config import Role, load_web_config

CONFIG = "route: {receiver: default}\nreceivers: [{name: default}]\n"
SOURCE_TOKEN = "source-token-0123456789"
INGEST_TOKEN = "ingest-token-abcdefghij"
ADMIN_TOKEN = "admin-token-zyxwvutsrq"
GRAFANA_SECRET = "grafana-hmac-secret"


def hashed(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()  # cost 4: quick tests


USERS = {"alice": hashed("alice-pw"), "bob": hashed("bob-pw")}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def web_file(tmp_path, **document) -> str:
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


STANDARD = dict(
    basic_auth_users=USERS,
    bearer_tokens={"prometheus": {"sha256": hashlib.sha256(INGEST_TOKEN.encode()).hexdigest()},
                   "ops": {"sha256": hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()}},
    roles={"alice": ["read", "silence"], "bob": ["read"], "prometheus": ["ingest"], "ops": ["admin"]},
    http_server_config={"headers": {"X-Content-Type-Options": "nosniff", "Strict-Transport-Security": "max-age=60"}},
)




def make_app(authenticator: Authenticator, *, max_body_bytes: int = 4096, public_paths=("/healthz",)):
    sources = SourceRegistry([
        Source(name="prometheus", type="alertmanager-v2", auth="none"),
        Source(name="upstream", type="alertmanager-webhook", auth={"type": "bearer", "tokens": [SOURCE_TOKEN]}),
        Source(name="grafana", type="grafana", auth={"type": "hmac", "secret": GRAFANA_SECRET}),
    ])
    view = ApiView(parse_config(CONFIG))
    view.ready.set()
    writer = AcknowledgingWriter(view)
    bridge = Bridge(BridgeConfig(sources=sources, resolve_timeout=timedelta(minutes=5)),
                    RawWriter(writer, "alerts.raw", "alerts.dlq", None))
    api = AlertmanagerApi(view, writer, "silences", config_text=CONFIG)
    app = build_app(bridge, api=api, authenticator=authenticator, public_paths=public_paths,
                    max_body_bytes=max_body_bytes)
    return TestClient(app), writer


@pytest.fixture
def client(tmp_path):
    return make_app(Authenticator(load_web_config(web_file(tmp_path, **STANDARD))))[0]


def silence_body(**changes) -> bytes:
    now = datetime.now(timezone.utc)
    body = {"matchers": [{"name": "alertname", "value": "X", "isRegex": False}], "createdBy": "t",
            "comment": "c", "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(), **changes}
    return orjson.dumps(body)


ALERTS = orjson.dumps([{"labels": {"alertname": "X"}}])
WEBHOOK = orjson.dumps({"version": "4", "status": "firing", "receiver": "r", "groupLabels": {},
                        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://x", "groupKey": "k",
                        "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "annotations": {},
                                    "startsAt": "2024-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]})


def assert_error(answer, status: int, error: str, *fragments: str) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["error"] == error and isinstance(body["detail"], str), body
    for fragment in fragments:
        assert fragment in body["detail"]
    return body


# --- authentication and roles ---------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v2/alerts"), ("GET", "/api/v2/alerts/groups"), ("GET", "/api/v2/silences"),
    ("GET", "/api/v2/status"), ("GET", "/api/v2/receivers"), ("POST", "/api/v2/silences"),
    ("DELETE", "/api/v2/silence/6b7b1e8e-0000-4000-8000-000000000000"), ("GET", "/metrics"), ("GET", "/readyz"),
    ("GET", "/openapi.json"), ("POST", "/api/v2/alerts"), ("POST", "/api/v1/webhooks/grafana"),
    ("GET", "/no/such/path"), ("PATCH", "/api/v2/silences"),
])
def test_every_endpoint_needs_credentials(client, method, path):
    answer = client.request(method, path, content=b"{}")
    assert_error(answer, 401, "unauthorized", "authentication required")
    assert answer.headers["www-authenticate"] == 'Basic realm="alert-pipeline", Bearer realm="alert-pipeline"'


def test_wrong_credentials_are_refused_without_saying_which_part_was_wrong(client):
    for headers in (basic("alice", "nope"), basic("mallory", "alice-pw"), bearer("guess"),
                    {"Authorization": "Basic !!!"}, {"Authorization": "Digest x"}):
        answer = client.get("/api/v2/alerts", headers=headers)
        body = assert_error(answer, 401, "unauthorized")
        assert "alice-pw" not in answer.text and "guess" not in answer.text
        assert "www-authenticate" in answer.headers, body
    assert client.get("/api/v2/alerts", headers=basic("alice", "nope")).json()["detail"] == \
        client.get("/api/v2/alerts", headers=basic("mallory", "nope")).json()["detail"]


def test_roles_decide_what_each_identity_may_do(client):
    assert client.get("/api/v2/alerts", headers=basic("bob", "bob-pw")).status_code == 200
    assert client.get("/api/v2/status", headers=basic("bob", "bob-pw")).status_code == 200
    assert client.get("/metrics", headers=basic("bob", "bob-pw")).status_code == 200
    assert_error(client.post("/api/v2/silences", content=silence_body(), headers=basic("bob", "bob-pw")),
                 403, "forbidden", "'bob' lacks the silence role")
    created = client.post("/api/v2/silences", content=silence_body(), headers=basic("alice", "alice-pw"))
    assert created.status_code == 200, created.text
    silence_id = created.json()["silenceID"]
    assert_error(client.delete(f"/api/v2/silence/{silence_id}", headers=basic("bob", "bob-pw")), 403, "forbidden")
    assert client.delete(f"/api/v2/silence/{silence_id}", headers=basic("alice", "alice-pw")).status_code == 200
    # a token with only admin reads nothing, an ingest token only ingests
    assert_error(client.get("/api/v2/alerts", headers=bearer(ADMIN_TOKEN)), 403, "forbidden", "'ops' lacks the read role")
    assert_error(client.get("/api/v2/alerts", headers=bearer(INGEST_TOKEN)), 403, "forbidden", "lacks the read role")
    assert client.post("/api/v2/alerts", content=ALERTS, headers=bearer(INGEST_TOKEN)).status_code == 200
    assert_error(client.post("/api/v2/alerts", content=ALERTS, headers=basic("alice", "alice-pw")), 403,
                 "forbidden", "ingest")


def test_unknown_paths_answer_only_authenticated_callers(client):
    assert client.get("/nothing-here", headers=basic("bob", "bob-pw")).status_code == 404
    assert client.patch("/api/v2/silences", headers=basic("bob", "bob-pw")).status_code == 405


def test_the_liveness_probe_is_public_and_nothing_else(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 401


def test_a_bearer_source_authenticates_its_own_senders(client):
    path = "/api/v1/webhooks/alertmanager"
    assert client.post(path, content=WEBHOOK, headers=bearer(SOURCE_TOKEN)).status_code == 200
    # no token at all: the source's own 401 with its challenge
    missing = client.post(path, content=WEBHOOK)
    assert_error(missing, 401, "unauthorized", "missing Authorization header")
    assert missing.headers["www-authenticate"] == "Bearer"
    # a web ingest token is not one of this source's tokens: the source refuses it
    assert_error(client.post(path, content=WEBHOOK, headers=bearer(INGEST_TOKEN)), 403, "forbidden")
    assert_error(client.post(path, content=WEBHOOK, headers=bearer("made-up")), 403, "forbidden")


def test_an_hmac_source_needs_the_ingest_role_and_its_signature(client):
    path = "/api/v1/webhooks/grafana"
    body = orjson.dumps({"alerts": [{"status": "firing", "labels": {"alertname": "G"}}], "status": "firing",
                         "version": "1"})
    signature = sign(Source(name="g", type="grafana", auth={"type": "hmac", "secret": GRAFANA_SECRET}).auth, body)
    assert_error(client.post(path, content=body, headers=signature), 401, "unauthorized")
    assert_error(client.post(path, content=body, headers=bearer(INGEST_TOKEN)), 401, "unauthorized",
                 "missing X-Signature")
    answer = client.post(path, content=body, headers={**signature, **bearer(INGEST_TOKEN)})
    assert answer.status_code == 200, answer.text


def test_without_a_web_configuration_everyone_may_do_everything_and_sources_still_check():
    client, _ = make_app(Authenticator())
    assert client.get("/api/v2/alerts").status_code == 200
    assert client.post("/api/v2/silences", content=silence_body()).status_code == 200
    assert client.post("/api/v2/alerts", content=ALERTS).status_code == 200
    assert client.post("/api/v1/webhooks/alertmanager", content=WEBHOOK).status_code == 401


def test_without_roles_every_user_has_every_role(tmp_path):
    client, _ = make_app(Authenticator(load_web_config(web_file(tmp_path, basic_auth_users=USERS))))
    assert client.post("/api/v2/silences", content=silence_body(), headers=basic("bob", "bob-pw")).status_code == 200
    assert client.post("/api/v2/alerts", content=ALERTS, headers=basic("bob", "bob-pw")).status_code == 200
    assert client.get("/api/v2/alerts").status_code == 401


# --- limits and headers ---------------------------------------------------------------------------

def test_bodies_are_bounded_with_a_json_413(client):
    auth = basic("alice", "alice-pw")
    big = silence_body(comment="x" * 5000)
    assert_error(client.post("/api/v2/silences", content=big, headers=auth), 413, "payload_too_large", "4096 bytes")

    def chunks():  # no Content-Length: the count decides
        for _ in range(10):
            yield b"x" * 1000
    assert_error(client.post("/api/v2/silences", content=chunks(), headers=auth), 413, "payload_too_large")
    assert_error(client.request("GET", "/api/v2/alerts", content=b"x" * 5000, headers=auth), 413, "payload_too_large")
    # ingest paths keep their source's limit (1 MiB by default), not the web one
    many = orjson.dumps([{"labels": {"alertname": "X", "pad": "y" * 100}}] * 50)
    assert len(many) > 4096
    assert client.post("/api/v2/alerts", content=many, headers=bearer(INGEST_TOKEN)).status_code == 200


def test_configured_headers_are_on_every_answer(client):
    for answer in (client.get("/healthz"), client.get("/api/v2/alerts"),
                   client.get("/api/v2/alerts", headers=basic("bob", "bob-pw"))):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["strict-transport-security"] == "max-age=60"


def test_a_flood_of_password_checks_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(access, "MAX_PENDING_CHECKS", 0)
    client, _ = make_app(Authenticator(load_web_config(web_file(tmp_path, basic_auth_users=USERS))))
    answer = client.get("/api/v2/alerts", headers=basic("alice", "not-cached"))
    assert_error(answer, 503, "unavailable", "too many password checks")
    assert answer.headers["retry-after"] == "1"


# --- reload -----------------------------------------------------------------------------------------

def test_a_changed_file_applies_and_a_broken_one_keeps_the_previous(tmp_path, caplog):
    path = web_file(tmp_path, basic_auth_users={"alice": USERS["alice"]})
    authenticator = Authenticator(load_web_config(path))
    client, _ = make_app(authenticator)
    assert client.get("/api/v2/alerts", headers=basic("bob", "bob-pw")).status_code == 401
    web_file(tmp_path, basic_auth_users=USERS)
    os.utime(path, (time.time() + 5, time.time() + 5))
    authenticator.maybe_reload(time.monotonic() + 10)
    assert client.get("/api/v2/alerts", headers=basic("bob", "bob-pw")).status_code == 200
    (tmp_path / "web.yml").write_text("basic_auth_users: {bob: plaintext-by-mistake}\n")
    os.utime(path, (time.time() + 10, time.time() + 10))
    authenticator.maybe_reload(time.monotonic() + 20)
    assert client.get("/api/v2/alerts", headers=basic("bob", "bob-pw")).status_code == 200
    assert "previous one stays in force" in caplog.text and "plaintext-by-mistake" not in caplog.text


# --- the reusable piece: roles on request.state, for later endpoints and the UI ---------------------

def test_later_endpoints_declare_a_role_and_read_the_grant(tmp_path):
    async def whoami(request: Request):
        return JSONResponse({"identity": request_identity(request),
                             "roles": sorted(str(role) for role in request_roles(request))})

    async def replay(request: Request):
        require_role(request, Role.ADMIN)
        return JSONResponse({"replayed": True})

    policy = AccessPolicy()
    policy.protect(Mount("/ui", routes=[Route("/whoami", whoami), Route("/replay", replay, methods=["POST"])]),
                   Requirement(Role.READ))
    authenticator = Authenticator(load_web_config(web_file(tmp_path, **{
        **STANDARD, "roles": {**STANDARD["roles"], "ops": ["admin", "read"]}})))
    app = Starlette(routes=policy.routes, exception_handlers={ApiError: handle_api_error})
    client = TestClient(AccessMiddleware(app, policy, authenticator))
    assert client.get("/ui/whoami", headers=basic("alice", "alice-pw")).json() == {
        "identity": "alice", "roles": ["read", "silence"]}
    assert_error(client.post("/ui/replay", headers=basic("alice", "alice-pw")), 403, "forbidden", "admin")
    assert client.post("/ui/replay", headers=bearer(ADMIN_TOKEN)).json() == {"replayed": True}
    assert_error(client.get("/ui/whoami"), 401, "unauthorized")


def test_a_declared_route_with_an_undeclared_method_stays_closed(tmp_path):
    async def endpoint(_request):
        return JSONResponse({})

    policy = AccessPolicy()
    policy.protect(Route("/x", endpoint, methods=["GET", "POST"]), {"GET": Requirement(Role.READ)})
    client = TestClient(AccessMiddleware(Starlette(routes=policy.routes), policy,
                                         Authenticator(load_web_config(web_file(tmp_path, **STANDARD)))))
    assert client.get("/x", headers=basic("alice", "alice-pw")).status_code == 200
    assert_error(client.post("/x", headers=basic("alice", "alice-pw")), 403, "forbidden", "admin")
