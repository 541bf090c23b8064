"""POST /api/v2/silences/preview and the silence guard of POST /api/v2/silences, over a view fed directly
and a notification history handed in (tests/integration/api/test_silence_preview.py reads it from Kafka)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from pipeline.amconfig import parse_config
from pipeline.api.handlers import AlertmanagerApi
from pipeline.api.silence_preview import GUARD_RULE_HEADER, MAX_BODY_BYTES, SilencePreview, guard_rules
from pipeline.api.view import ApiView
from pipeline.models import Alert, Notification
from pipeline.muting.preview import GuardRules, preview_words
from pipeline.settings import Settings, SilenceSettings
from tests.unit.api.test_api import CONFIG, ViewWriter, enriched

UTC = timezone.utc


class FakeWindow:
    def __init__(self, start, end):
        self.start, self.end = start, end

    def to_json(self):
        return {"topic": "notifications", "from": self.start.isoformat(), "to": self.end.isoformat(),
                "recordsScanned": 3, "notifications": 3, "capped": False}


class FakeHistory:
    """What NotificationHistory hands out, from a list; records the window it was asked for."""

    asked: list[tuple[datetime, datetime]] = []

    def __init__(self, notifications, fail: Exception | None = None):
        self.notifications, self.fail = notifications, fail

    def __call__(self, start, end):
        self.asked.append((start, end))
        self.window = FakeWindow(start, end)
        if self.fail is not None:
            raise self.fail
        return self

    def __iter__(self):
        return iter(self.notifications)


def db_alert(i: int) -> dict[str, str]:
    return {"alertname": "Disk", "service": "db", "instance": f"db{i}"}


def notification(receiver: str, labels: list[dict[str, str]], seq: int) -> Notification:
    now = datetime.now(UTC)
    alerts = [Alert.with_fingerprint(labels=l, starts_at=now, status="firing", updated_at=now) for l in labels]
    return Notification(id=f"{receiver}-{seq}", receiver=receiver, status="firing", group_key=f"g{seq}",
                        group_labels={"alertname": labels[0]["alertname"]}, alerts=alerts, flush_seq=seq,
                        created_at=now - timedelta(hours=1), integration="webhook/0")


HISTORY = [
    notification("team-db", [db_alert(1), db_alert(2)], 1),                               # not sent
    notification("team-db", [db_alert(3), {"alertname": "Disk", "service": "web"}], 2),   # fewer alerts
    notification("team-web", [{"alertname": "B", "service": "web"}], 3),                  # untouched
]


def build(view, *, history=None, rules: GuardRules | None = None, **kwargs):
    writer = ViewWriter(view)
    api = AlertmanagerApi(view, writer, "silences", config_text=CONFIG)
    preview = SilencePreview(view, rules or GuardRules(), history if history is not None else FakeHistory(HISTORY),
                             default_since=timedelta(hours=6), max_since=timedelta(days=7), max_examples=2,
                             max_alerts_shown=kwargs.pop("max_alerts_shown", 3), **kwargs)
    preview.install(api)
    return TestClient(Starlette(routes=api.routes())), writer


@pytest.fixture
def view():
    view = ApiView(parse_config(CONFIG))
    view.ready.set()
    # 12 db alerts and 4 web ones: a `service="db"` silence matches 12 of 16 (75%).
    for i in range(12):
        view.apply_alert(None, enriched(db_alert(i)))
    for i in range(4):
        view.apply_alert(None, enriched({"alertname": "B", "service": "web", "instance": f"w{i}"}))
    return view


def silence_body(*matchers, comment="maintenance", hours=2, **extra):
    now = datetime.now(UTC)
    return {"matchers": [{"name": n, "value": v, "isRegex": r} for n, v, r in matchers],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=hours)).isoformat(),
            "createdBy": "sre", "comment": comment, **extra}


DB = ("service", "db", False)


def test_preview_answers_now_history_and_guard_and_writes_nothing(view):
    client, writer = build(view)
    answer = client.post("/api/v2/silences/preview", json=silence_body(DB))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["silence"]["matchers"] == '{service="db"}' and body["silence"]["since"] == "6h"
    now = body["matchesNow"]
    assert (now["activeAlerts"], now["matchedAlerts"], now["alertsListed"], now["capped"]) == (16, 12, 3, True)
    first = now["alerts"][0]
    assert first["labels"]["service"] == "db" and first["receivers"] == [{"name": "team-db"}]
    assert first["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    assert [a["fingerprint"] for a in now["alerts"]] == sorted(a["fingerprint"] for a in now["alerts"])
    # 12 of 16 is 75% > 50% with at least 10 matched: the default guard refuses it.
    assert body["guard"]["allowed"] is False and body["guard"]["rule"] == "max_active_percent"
    assert body["guard"]["matchedPercent"] == 75.0
    muted = body["wouldHaveMuted"]
    assert (muted["notificationsSeen"], muted["notSent"], muted["sentWithFewerAlerts"]) == (3, 1, 1)
    assert [(r["receiver"], r["notifications"], r["notSent"], r["sentWithFewerAlerts"], r["alertsMuted"])
            for r in muted["receivers"]] == [("team-db", 2, 1, 1, 3)]
    assert [e["effect"] for e in muted["receivers"][0]["examples"]] == ["not sent", "sent with fewer alerts"]
    assert muted["window"]["topic"] == "notifications"
    start, end = FakeHistory.asked[-1]
    assert end - start == timedelta(hours=6)
    assert writer.records == [] and client.get("/api/v2/silences").json() == []
    text = preview_words(body)
    assert "guard: REFUSED by rule max_active_percent" in text
    assert "matches now: 12 of 16 active alerts" in text and "… and 9 more" in text
    assert "team-db: 1 of 2 notifications not sent, 1 sent with fewer alerts (3 alerts muted)" in text


def test_preview_since_parameter(view):
    client, _ = build(view)
    assert client.post("/api/v2/silences/preview?since=90m", json=silence_body(DB)).json()["silence"]["since"] == "1h30m"
    ok = client.post("/api/v2/silences/preview?since=1h30m", json=silence_body(DB))
    assert ok.status_code == 200 and ok.json()["silence"]["since"] == "1h30m"
    start, end = FakeHistory.asked[-1]
    assert end - start == timedelta(minutes=90)
    for query, message in (
        ("since=soon", "invalid since parameter: not a valid duration: 'soon' (expected e.g. 30s, 5m, 1h30m, 7d)"),
        ("since=0", "invalid since parameter: must be longer than 0s"),
        ("since=8d", "invalid since parameter: 8d is longer than the longest preview window, 7d"),
        ("since=99999999999999y", "invalid since parameter: 99999999999999y is longer than the longest preview "
                                  "window, 7d"),
    ):
        answer = client.post(f"/api/v2/silences/preview?{query}", json=silence_body(DB))
        assert answer.status_code == 400 and answer.json() == message


def test_preview_validates_like_post(view):
    client, _ = build(view)
    for body, status, message in (
        ({"matchers": []}, 422, {"code": 602, "message": "comment in body is required"}),
        (silence_body(("0bad", "x", False)), 400, 'silence invalid: invalid label matcher 0: invalid label name "0bad"'),
        (silence_body(("a", "(", True)), 400,
         'silence invalid: invalid label matcher 0: invalid regular expression "(": error parsing regexp: '
         'missing closing ): `(`'),
        (silence_body(DB, hours=-1), 400, "Failed to create silence: start time must be before end time"),
    ):
        answer = client.post("/api/v2/silences/preview", json=body)
        assert (answer.status_code, answer.json()) == (status, message)
    garbage = client.post("/api/v2/silences/preview", content=b"nope", headers={"content-type": "application/json"})
    assert garbage.status_code == 400 and garbage.json()["code"] == 400
    huge = client.post("/api/v2/silences/preview", content=b" " * (MAX_BODY_BYTES + 1))
    assert huge.status_code == 413


def test_preview_without_history_still_answers_the_rest(view):
    client, _ = build(view, history=FakeHistory([], fail=RuntimeError("reading notifications: broker down")))
    answer = client.post("/api/v2/silences/preview", json=silence_body(("service", "web", False)))
    assert answer.status_code == 200
    body = answer.json()
    assert body["wouldHaveMuted"] == {
        "error": "the notification history could not be read: reading notifications: broker down"}
    assert body["guard"]["allowed"] is True and body["matchesNow"]["matchedAlerts"] == 4
    assert "would have muted over the last 6h: unknown, the notification history could not be read" in \
        preview_words(body)


def test_preview_waits_for_the_view(view):
    view.ready.clear()
    client, _ = build(view)
    answer = client.post("/api/v2/silences/preview", json=silence_body(DB))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"


# --- the guard on POST /api/v2/silences ---------------------------------------------------------------------

def test_guard_refuses_a_silence_over_the_share_with_a_400_naming_the_rule(view):
    client, writer = build(view)
    answer = client.post("/api/v2/silences", json=silence_body(DB))
    assert answer.status_code == 400
    assert answer.headers[GUARD_RULE_HEADER] == "max_active_percent"
    assert answer.json() == (
        'silence guard rule max_active_percent refuses this silence: {service="db"} matches 12 of 16 active '
        "alerts (75.0%), more than 50%; add '[force]' to the comment (or pass force=true) to create it anyway")
    assert writer.records == []


def test_guard_is_forced_by_the_query_or_the_comment_marker(view):
    client, writer = build(view)
    by_query = client.post("/api/v2/silences?force=true", json=silence_body(DB))
    assert by_query.status_code == 200, by_query.text
    by_marker = client.post("/api/v2/silences", json=silence_body(DB, comment="[force] db migration"))
    assert by_marker.status_code == 200, by_marker.text
    assert len(writer.records) == 2
    # an update of the forced silence keeps its comment, and so passes again
    silence_id = by_marker.json()["silenceID"]
    stored = client.get(f"/api/v2/silence/{silence_id}").json()
    update = {**silence_body(DB, comment=stored["comment"]), "id": silence_id, "startsAt": stored["startsAt"]}
    assert client.post("/api/v2/silences", json=update).status_code == 200


def test_guard_lets_small_and_narrow_silences_through(view):
    client, _ = build(view)
    # 4 of 16 (25%); one alert (6%, and below min_matched_alerts)
    assert client.post("/api/v2/silences", json=silence_body(("service", "web", False))).status_code == 200
    assert client.post("/api/v2/silences", json=silence_body(("instance", "db1", False))).status_code == 200


def test_guard_validation_comes_first(view):
    client, _ = build(view)
    answer = client.post("/api/v2/silences", json=silence_body(("0bad", "x", False)))
    assert answer.status_code == 400 and GUARD_RULE_HEADER not in answer.headers


def test_equality_rule_when_enabled(view):
    rules = GuardRules(require_equality_matcher=True, max_active_percent=None)
    client, _ = build(view, rules=rules)
    regex_only = silence_body(("instance", "db1|db2", True))
    answer = client.post("/api/v2/silences", json=regex_only)
    assert answer.status_code == 400 and answer.headers[GUARD_RULE_HEADER] == "equality_matcher"
    assert answer.json().startswith('silence guard rule equality_matcher refuses this silence: '
                                    '{instance=~"db1|db2"} has no equality matcher')
    preview = client.post("/api/v2/silences/preview", json=regex_only).json()
    assert preview["guard"]["rule"] == "equality_matcher" and preview["guard"]["allowed"] is False
    assert client.post("/api/v2/silences?force=1", json=regex_only).status_code == 200


def test_guard_rules_from_settings():
    assert guard_rules(Settings()) == GuardRules(False, 50.0, 10, "[force]")
    off = Settings(silences=SilenceSettings(guard_max_active_percent=100, guard_require_equality_matcher=True,
                                            guard_force_marker="#override"))
    assert guard_rules(off) == GuardRules(True, None, 10, "#override")
