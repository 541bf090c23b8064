"""Alertmanager API v2 read/silence side over a view fed directly (no Kafka).

Expected shapes, orders and messages are those a real Alertmanager 0.25.0 gave for the same config and
alerts (tests/integration/api/test_differential.py re-checks them against the binary).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from pipeline import wire
from pipeline.amconfig import parse_config
from pipeline.api.handlers import AlertmanagerApi, go_time, labels_before
from pipeline.api.view import ApiView
from pipeline.models import Alert, EnrichedAlert, Silence
from pipeline.runtime.producer import ProduceError

CONFIG = """
global:
  resolve_timeout: 5m
route:
  receiver: default
  group_by: [alertname]
  routes:
    - receiver: team-db
      matchers: ['service="db"']
      group_by: [alertname, instance]
      continue: true
    - receiver: team-web
      matchers: ['service=~"web|api"']
receivers:
  - name: default
  - name: team-db
  - name: team-web
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [service]
"""
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
UTC = timezone.utc


class ViewWriter:
    """A producer whose acknowledged records land in the view, as the follower would deliver them."""

    def __init__(self, view: ApiView, deliver: bool = True, fail: bool = False) -> None:
        self.view, self.deliver, self.fail = view, deliver, fail
        self.records = []

    async def send_all(self, records) -> None:
        if self.fail:
            raise ProduceError("broker did not accept the record: timed out")
        for record in records:
            self.records.append(record)
            if self.deliver:
                self.view.apply_raw("silences", record.key, record.value)


def enriched(labels, *, starts=None, ends=None, status="firing", **alert_fields) -> EnrichedAlert:
    now = datetime.now(UTC)
    alert = Alert.with_fingerprint(labels=labels, starts_at=starts or now - timedelta(minutes=1),
                                   ends_at=ends if ends is not None else now + timedelta(minutes=5),
                                   status=status, updated_at=now, **alert_fields)
    return EnrichedAlert(alert=alert, source="test", source_format="direct", received_at=now)


@pytest.fixture
def view() -> ApiView:
    view = ApiView(parse_config(CONFIG))
    view.ready.set()
    return view


def make_client(view: ApiView, writer=None, **kwargs) -> tuple[TestClient, ViewWriter]:
    writer = writer or ViewWriter(view)
    api = AlertmanagerApi(view, writer, "silences", config_text=CONFIG, **kwargs)
    return TestClient(Starlette(routes=api.routes())), writer


@pytest.fixture
def client(view):
    return make_client(view)[0]


CRIT = {"alertname": "A", "service": "db", "severity": "critical", "instance": "i1"}
WARN = {"alertname": "A", "service": "db", "severity": "warning", "instance": "i2"}
WEB = {"alertname": "B", "service": "web"}


@pytest.fixture
def three_alerts(view):
    view.apply_alert(None, enriched(CRIT, annotations={"summary": "s"}, generator_url="http://x/g"))
    view.apply_alert(None, enriched(WARN))
    view.apply_alert(None, enriched(WEB))
    # hidden: resolved by record, and resolved by time (endsAt passed without an update)
    view.apply_alert(None, enriched({"alertname": "C"}, ends=datetime.now(UTC) - timedelta(seconds=1),
                                    status="resolved"))
    view.apply_alert(None, enriched({"alertname": "D"}, ends=datetime.now(UTC) - timedelta(seconds=1)))


def fingerprints(items):
    return [item["fingerprint"] for item in items]


# --- GET /alerts -----------------------------------------------------------------------------------

def test_alerts_shape_status_receivers_and_order(client, three_alerts):
    answer = client.get("/api/v2/alerts")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    alerts = answer.json()
    # Alertmanager's own fingerprints for these label sets, sorted.
    assert fingerprints(alerts) == ["0ab208ebc85557eb", "2c4bf3722f22668d", "366f00884afc3b87"]
    warn, crit, web = alerts
    assert list(warn) == ["annotations", "endsAt", "fingerprint", "receivers", "startsAt", "status",
                          "updatedAt", "labels"]
    assert warn["status"] == {"inhibitedBy": ["2c4bf3722f22668d"], "silencedBy": [], "state": "suppressed"}
    assert warn["receivers"] == [{"name": "team-db"}] and warn["annotations"] == {}
    assert crit["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    assert crit["generatorURL"] == "http://x/g" and crit["annotations"] == {"summary": "s"}
    assert "generatorURL" not in warn
    assert web["receivers"] == [{"name": "team-web"}] and web["labels"] == WEB
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", web["startsAt"])


def test_alert_filters(client, three_alerts):
    def fps(query: str) -> list[str]:
        answer = client.get(f"/api/v2/alerts?{query}")
        assert answer.status_code == 200, answer.text
        return fingerprints(answer.json())

    assert fps("active=false") == ["0ab208ebc85557eb"]
    assert fps("active=0") == fps("active=xyz") == ["0ab208ebc85557eb"]  # swag.ConvertBool
    assert fps("inhibited=false") == ["2c4bf3722f22668d", "366f00884afc3b87"]
    assert fps("inhibited=off&silenced=no") == ["2c4bf3722f22668d", "366f00884afc3b87"]
    assert fps("active=") == fps("")  # empty: the default (true)
    assert fps('filter=service="db"&filter=severity!=""') == ["0ab208ebc85557eb", "2c4bf3722f22668d"]
    assert fps("filter=service=db,alertname=A") == []  # one matcher, value "db,alertname=A"
    assert fps("filter=instance=") == ["366f00884afc3b87"]  # `=""` passes alerts without the label
    assert fps("filter=severity=~warn.*") == ["0ab208ebc85557eb"]
    assert fps("receiver=team-web") == ["366f00884afc3b87"]
    assert fps("receiver=team-.*") == fps("")
    assert fps("receiver=team") == []  # anchored
    assert fps("unprocessed=false") == fps("")


@pytest.mark.parametrize("query, message", [
    ("filter=foo", "bad matcher format: foo"),
    ("filter=", "bad matcher format: "),
    ('filter=a=~"("', "error parsing regexp: missing closing ): `^(?:()$`"),
    ("filter=%7Bservice%3D%22db%22%7D", 'bad matcher format: {service="db"}'),
    ("receiver=(", "failed to parse receiver param: error parsing regexp: missing closing ): `^(?:()$`"),
])
def test_alert_filter_errors(client, query, message):
    for path in ("/api/v2/alerts", "/api/v2/alerts/groups"):
        answer = client.get(f"{path}?{query}")
        assert answer.status_code == 400
        assert answer.json() == message


def test_alert_groups_like_alertmanager(client, three_alerts):
    groups = client.get("/api/v2/alerts/groups").json()
    assert [(g["labels"], g["receiver"]["name"], fingerprints(g["alerts"])) for g in groups] == [
        ({"alertname": "B"}, "team-web", ["366f00884afc3b87"]),
        ({"alertname": "A", "instance": "i1"}, "team-db", ["2c4bf3722f22668d"]),
        ({"alertname": "A", "instance": "i2"}, "team-db", ["0ab208ebc85557eb"]),
    ]
    assert list(groups[0]) == ["alerts", "labels", "receiver"]
    assert groups[2]["alerts"][0]["status"]["state"] == "suppressed"
    filtered = client.get("/api/v2/alerts/groups?receiver=team-db&inhibited=false").json()
    assert [fingerprints(g["alerts"]) for g in filtered] == [["2c4bf3722f22668d"]]


def test_groups_merge_alerts_and_sort_receivers(view):
    config = CONFIG.replace("continue: true", "continue: true\n    - receiver: default\n"
                            "      matchers: ['service=\"db\"']\n      group_by: [service]")
    view = ApiView(parse_config(config))
    view.ready.set()
    client, _ = make_client(view)
    view.apply_alert(None, enriched({**WARN, "job": "b"}))
    view.apply_alert(None, enriched({**CRIT, "job": "a"}))
    view.apply_alert(None, enriched({"alertname": "Z", "service": "db"}))
    groups = client.get("/api/v2/alerts/groups").json()
    by_service = [g for g in groups if g["labels"] == {"service": "db"}][0]
    assert by_service["receiver"] == {"name": "default"}
    # AlertSlice order: job first (present before absent), then labels
    assert [a["labels"]["alertname"] + a["labels"].get("job", "") for a in by_service["alerts"]] == [
        "Aa", "Ab", "Z"]
    # in groups, an alert's receivers are every group receiver it is in, sorted
    assert by_service["alerts"][0]["receivers"] == [{"name": "default"}, {"name": "team-db"}]
    alerts = {a["labels"]["alertname"] + a["labels"].get("job", ""): a
              for a in client.get("/api/v2/alerts").json()}
    assert alerts["Aa"]["receivers"] == [{"name": "team-db"}, {"name": "default"}]  # route order


def test_labels_before_is_go_order():
    assert labels_before({"a": "1"}, {"a": "1", "b": "2"})
    assert labels_before({"a": "1"}, {"a": "2"})
    # Go's rule: over the sorted union of names, the set first missing a name comes first
    assert labels_before({"b": "1"}, {"a": "1"}) and not labels_before({"a": "1"}, {"b": "1"})


def test_tombstone_and_resolution_leave_the_view(client, view):
    record = enriched(WEB)
    view.apply_alert(None, record)
    assert len(client.get("/api/v2/alerts").json()) == 1
    view.apply_alert(record.alert.fingerprint, None)
    assert client.get("/api/v2/alerts").json() == []


# --- status and receivers --------------------------------------------------------------------------

def test_status_and_receivers(client):
    status = client.get("/api/v2/status").json()
    assert status["cluster"] == {"peers": [], "status": "disabled"}
    assert status["config"] == {"original": CONFIG}
    assert set(status["versionInfo"]) == {"branch", "buildDate", "buildUser", "goVersion", "revision", "version"}
    assert status["versionInfo"]["version"] == "0.25.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", status["uptime"])
    assert client.get("/api/v2/receivers").json() == [{"name": "default"}, {"name": "team-db"}, {"name": "team-web"}]


def test_not_ready_answers_503(view):
    view.ready.clear()
    client, _ = make_client(view)
    answer = client.get("/api/v2/alerts")
    assert answer.status_code == 503 and "Retry-After" in answer.headers
    assert "still reading" in answer.json()


# --- silences ----------------------------------------------------------------------------------------

def silence_body(matchers=None, starts=None, ends=None, **extra):
    now = datetime.now(UTC)
    return {
        "matchers": matchers or [{"name": "alertname", "value": "B", "isRegex": False}],
        "startsAt": go_time(starts or now), "endsAt": go_time(ends or now + timedelta(hours=1)),
        "createdBy": "me", "comment": "c", **extra,
    }


def test_silence_create_query_get_and_mute(client, view, three_alerts):
    answer = client.post("/api/v2/silences", json=silence_body())
    assert answer.status_code == 200
    silence_id = answer.json()["silenceID"]
    assert UUID.match(silence_id) and list(answer.json()) == ["silenceID"]
    pending = client.post("/api/v2/silences", json=silence_body(
        [{"name": "service", "value": "d.*", "isRegex": True, "isEqual": True}],
        starts=datetime.now(UTC) + timedelta(minutes=30))).json()["silenceID"]

    silences = client.get("/api/v2/silences").json()
    assert [s["id"] for s in silences] == [silence_id, pending]  # active first, then pending
    first = silences[0]
    assert list(first) == ["id", "status", "updatedAt", "comment", "createdBy", "endsAt", "matchers", "startsAt"]
    assert first["status"] == {"state": "active"}
    assert first["matchers"] == [{"isEqual": True, "isRegex": False, "name": "alertname", "value": "B"}]
    assert silences[1]["status"] == {"state": "pending"}
    assert client.get(f"/api/v2/silence/{silence_id}").json() == first

    assert [s["id"] for s in client.get("/api/v2/silences?filter=alertname=B").json()] == [silence_id]
    assert client.get("/api/v2/silences?filter=alertname=~B").json() == []  # exact matcher equality
    assert client.get("/api/v2/silences?filter=bad").json() == "bad matcher format: bad"

    web = [a for a in client.get("/api/v2/alerts").json() if a["labels"] == WEB][0]
    assert web["status"] == {"inhibitedBy": [], "silencedBy": [silence_id], "state": "suppressed"}
    assert [a["labels"] for a in client.get("/api/v2/alerts?silenced=false&inhibited=false").json()] == [CRIT]


def test_silence_expire(client, view):
    silence_id = client.post("/api/v2/silences", json=silence_body()).json()["silenceID"]
    answer = client.delete(f"/api/v2/silence/{silence_id}")
    assert answer.status_code == 200 and answer.content == b""
    assert client.get(f"/api/v2/silence/{silence_id}").json()["status"] == {"state": "expired"}
    assert client.delete(f"/api/v2/silence/{silence_id}").status_code == 200  # already expired: no error
    unknown = "6b7b1e8e-0000-4000-8000-000000000000"
    assert client.get(f"/api/v2/silence/{unknown}").status_code == 404
    assert client.get(f"/api/v2/silence/{unknown}").content == b""
    assert client.delete(f"/api/v2/silence/{unknown}").status_code == 404
    bad = client.get("/api/v2/silence/abc")
    assert bad.status_code == 422
    assert bad.json() == {"code": 601, "message": 'silenceID in path must be of type uuid: "abc"'}
    assert client.delete("/api/v2/silence/abc").status_code == 422


def test_silence_update_rule(client, view):
    body = silence_body()
    silence_id = client.post("/api/v2/silences", json=body).json()["silenceID"]
    stored = client.get(f"/api/v2/silence/{silence_id}").json()
    # same matchers and startsAt, later end: updated in place
    longer = {**body, "id": silence_id, "startsAt": stored["startsAt"],
              "endsAt": go_time(datetime.now(UTC) + timedelta(hours=2))}
    assert client.post("/api/v2/silences", json=longer).json() == {"silenceID": silence_id}
    # other matchers: the old one is expired, a new id answers
    changed = {**longer, "matchers": [{"name": "alertname", "value": "C", "isRegex": False}]}
    new_id = client.post("/api/v2/silences", json=changed).json()["silenceID"]
    assert new_id != silence_id
    assert client.get(f"/api/v2/silence/{silence_id}").json()["status"]["state"] == "expired"
    assert client.get(f"/api/v2/silence/{new_id}").json()["status"]["state"] == "active"
    unknown = {**body, "id": "6b7b1e8e-0000-4000-8000-000000000000"}
    answer = client.post("/api/v2/silences", json=unknown)
    assert answer.status_code == 404 and answer.json() == "silence not found"


@pytest.mark.parametrize("body, status, answer", [
    (silence_body([{"name": "a", "value": "", "isRegex": False}]), 400,
     "silence invalid: at least one matcher must not match the empty string"),
    (silence_body(ends=datetime.now(UTC) - timedelta(hours=2), starts=datetime.now(UTC) - timedelta(hours=3)),
     400, "Failed to create silence: end time can't be in the past"),
    (silence_body(ends=datetime.now(UTC), starts=datetime.now(UTC) + timedelta(hours=1)),
     400, "Failed to create silence: start time must be before end time"),
    (silence_body([{"name": "a b", "value": "x", "isRegex": False}]), 400,
     'silence invalid: invalid label matcher 0: invalid label name "a b"'),
    ({k: v for k, v in silence_body().items() if k != "comment"}, 422,
     {"code": 602, "message": "comment in body is required"}),
    (silence_body([{"name": "a", "value": "x"}]), 422,
     {"code": 602, "message": "matchers.0.isRegex in body is required"}),
    (silence_body([]) | {"matchers": []}, 422,
     {"code": 612, "message": "matchers in body should have at least 1 items"}),
])
def test_silence_post_errors(client, body, status, answer):
    response = client.post("/api/v2/silences", json=body)
    assert response.status_code == status, response.text
    assert response.json() == answer


def test_silence_post_unparseable_body(client):
    response = client.post("/api/v2/silences", content=b"nope", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert response.json()["message"].startswith('parsing silence body from "" failed, because ')


def test_write_not_acknowledged_or_not_visible_is_503(view):
    client, _ = make_client(view, ViewWriter(view, fail=True))
    answer = client.post("/api/v2/silences", json=silence_body())
    assert answer.status_code == 503 and "not stored" in answer.json()
    client, writer = make_client(view, ViewWriter(view, deliver=False), write_timeout_s=0.2)
    answer = client.post("/api/v2/silences", json=silence_body())
    assert answer.status_code == 503 and "not read it back" in answer.json()
    assert len(writer.records) == 1  # it was written
    silence = wire.decode(Silence, writer.records[0].value)
    assert silence.created_by == "me" and writer.records[0].key == silence.id.encode()
