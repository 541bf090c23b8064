"""Silence preview and guard in a real bridge process against the real broker: notifications written to the
``notifications`` topic by the test (with their Kafka timestamps in the past), alerts to alerts.enriched;
the preview endpoint, ``pipeline silence preview`` and Debian's amtool 0.25 against the guard.

The timeline (hand-worked expectations below), relative to the module's start:

    -8h    old      team-db  [db0, db1]        outside the default 6h window (skipped by the time index)
    -2h    n1       team-db  [db0, db1]        every alert matches service="db": not sent
    -2h    n1 again (the same id: a replayed flush)  counted once
    -2h    n2       team-db  [db2, web0]  webhook/0 and slack/0: one flush, sent without db2
    -1h    garbage bytes                         unreadable, reported
    -30m   n3       team-web [web0]              untouched
    now    late     team-db  [db3], created_at -7h: inside the read, outside the window by its own time
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from click.testing import CliRunner
from confluent_kafka import Producer

from pipeline import wire
from pipeline.cli import main
from pipeline.models import Alert, Notification
from pipeline.notification_history import NotificationHistory, notification_topic
from pipeline.runtime.producer import durable_config
from pipeline.topology import load_topology
from tests.integration.api.conftest import get_json, wait_for
from tests.integration.peer_processes import require_binary

NOW = datetime.now(timezone.utc)
DB = [{"alertname": "Disk", "service": "db", "instance": f"db{i}"} for i in range(12)]
WEB = [{"alertname": "Web", "service": "web", "instance": f"web{i}"} for i in range(4)]


def _notification(nid: str, receiver: str, labels: list[dict], created: datetime, seq: int = 1,
                  group: str = "g", integration: str = "webhook/0") -> Notification:
    alerts = [Alert.with_fingerprint(labels=l, starts_at=created, status="firing", updated_at=created) for l in labels]
    return Notification(id=nid, receiver=receiver, status="firing", group_key=group,
                        group_labels={"alertname": labels[0]["alertname"]}, alerts=alerts, flush_seq=seq,
                        created_at=created, integration=integration)


@pytest.fixture(scope="module")
def recorded(api_settings):
    topic = api_settings.topic(notification_topic(load_topology(api_settings.topics.topology_file)))
    producer = Producer(durable_config(api_settings.kafka, 10.0))

    def write(value: bytes, key: str, at: datetime) -> None:
        producer.produce(topic, key=key.encode(), value=value, timestamp=int(at.timestamp() * 1000))

    h = timedelta(hours=1)
    old = _notification("old", "team-db", DB[:2], NOW - 8 * h)
    n1 = _notification("n1", "team-db", DB[:2], NOW - 2 * h, group="g1")
    n2w = _notification("n2w", "team-db", [DB[2], WEB[0]], NOW - 2 * h, group="g2")
    n2s = _notification("n2s", "team-db", [DB[2], WEB[0]], NOW - 2 * h, group="g2", integration="slack/0")
    n3 = _notification("n3", "team-web", [WEB[0]], NOW - h / 2, group="g3")
    late = _notification("late", "team-db", [DB[3]], NOW - 7 * h, group="g4")
    write(wire.encode(old), "old", NOW - 8 * h)
    for n in (n1, n1, n2w, n2s):
        write(wire.encode(n), n.id, NOW - 2 * h)
    write(b"not a notification", "garbage", NOW - h)
    write(wire.encode(n3), "n3", NOW - h / 2)
    write(wire.encode(late), "late", NOW)
    assert producer.flush(10) == 0
    return topic


@pytest.fixture(scope="module")
def active(bridge, enriched_writer):
    for labels in DB + WEB:
        enriched_writer.send(labels)
    wait_for(lambda: get_json(f"{bridge.url}/api/v2/alerts"), lambda a: len(a) == 16, what="16 alerts")


def body(matchers: list[tuple[str, str, bool]], comment: str = "preview test") -> dict:
    now = datetime.now(timezone.utc)
    return {"matchers": [{"name": n, "value": v, "isRegex": r} for n, v, r in matchers],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "test", "comment": comment}


def test_history_reads_the_window_from_kafka(api_settings, recorded):
    history = NotificationHistory(api_settings, NOW - timedelta(hours=6), NOW + timedelta(minutes=1),
                                  max_records=1000, max_seconds=30)
    ids = [n.id for n in history]
    # "old" is before the seek point; "late" is read but its created_at is outside; n1 once.
    assert sorted(ids) == ["n1", "n2s", "n2w", "n3"]
    window = history.window
    assert (window.records, window.notifications, window.duplicates, window.unreadable) == (7, 4, 1, 1)
    assert window.capped is None and not window.clipped_by_retention
    [problem] = window.problems
    assert problem.startswith("notifications[") and "value is neither JSON nor Avro" in problem, problem
    capped = NotificationHistory(api_settings, NOW - timedelta(hours=6), NOW, max_records=2, max_seconds=30)
    assert len(list(capped)) <= 2 and capped.window.capped == "records" and capped.window.to_json()["capped"]


def test_preview_endpoint_against_kafka(bridge, recorded, active):
    answer = httpx.post(f"{bridge.url}/api/v2/silences/preview", json=body([("service", "db", False)]), timeout=30)
    assert answer.status_code == 200, answer.text + bridge.log()
    result = answer.json()
    assert (result["matchesNow"]["activeAlerts"], result["matchesNow"]["matchedAlerts"]) == (16, 12)
    assert result["guard"]["allowed"] is False and result["guard"]["rule"] == "max_active_percent"
    muted = result["wouldHaveMuted"]
    assert (muted["window"]["recordsScanned"], muted["window"]["notifications"], muted["window"]["unreadable"],
            muted["window"]["duplicates"]) == (7, 4, 1, 1)
    # flushes: n1, n2 (two integrations, one flush), n3
    assert (muted["notificationsSeen"], muted["notSent"], muted["sentWithFewerAlerts"]) == (3, 1, 1)
    [team_db] = muted["receivers"]
    assert (team_db["receiver"], team_db["notifications"], team_db["notSent"], team_db["sentWithFewerAlerts"],
            team_db["alertsMuted"]) == ("team-db", 2, 1, 1, 3)
    # the last hour only: n3, which the silence does not touch
    recent = httpx.post(f"{bridge.url}/api/v2/silences/preview", params={"since": "1h"},
                        json=body([("service", "db", False)]), timeout=30).json()["wouldHaveMuted"]
    assert recent["notificationsSeen"] == 1 and recent["receivers"] == []
    # nothing was written
    assert get_json(f"{bridge.url}/api/v2/silences") == []


def test_cli_preview(bridge, recorded, active):
    runner = CliRunner()
    refused = runner.invoke(main, ["silence", "preview", "--url", bridge.url, "-m", 'service="db"'])
    assert refused.exit_code == 1, refused.output
    assert "guard: REFUSED by rule max_active_percent" in refused.output
    assert "matches now: 12 of 16 active alerts" in refused.output
    assert "team-db: 1 of 2 notifications not sent, 1 sent with fewer alerts (3 alerts muted)" in refused.output
    assert "1 unreadable records skipped" in refused.output
    forced = runner.invoke(main, ["silence", "preview", "--url", bridge.url, "-m", 'service="db"', "--force",
                                  "--format", "json", "--since", "3h"])
    assert forced.exit_code == 0, forced.output
    document = json.loads(forced.output)
    assert document["guard"]["forced"] is True and document["silence"]["since"] == "3h"
    narrow = runner.invoke(main, ["silence", "preview", "--url", bridge.url, "-m", '{service="db",instance="db1"}'])
    assert narrow.exit_code == 0 and "matches now: 1 of 16 active alerts" in narrow.output
    bad = runner.invoke(main, ["silence", "preview", "--url", bridge.url, "-m", "nope"])
    assert bad.exit_code == 2 and "bad matcher: bad matcher format: nope" in bad.output
    server_says_no = runner.invoke(main, ["silence", "preview", "--url", bridge.url, "-m", 'service="db"',
                                          "--since", "30d"])
    assert server_says_no.exit_code == 2 and "HTTP 400" in server_says_no.output


def test_amtool_meets_the_guard(bridge, active):
    amtool = require_binary("amtool")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([amtool, f"--alertmanager.url={bridge.url}", *args], capture_output=True, text=True,
                              timeout=60)

    refused = run("silence", "add", "service=db", "--comment=db maintenance", "--duration=1h")
    assert refused.returncode != 0
    assert "silence guard rule max_active_percent refuses this silence" in refused.stderr + refused.stdout
    forced = run("silence", "add", "service=db", "--comment=[force] db maintenance", "--duration=1h")
    assert forced.returncode == 0, forced.stderr
    silence_id = forced.stdout.strip()
    assert get_json(f"{bridge.url}/api/v2/silence/{silence_id}")["comment"] == "[force] db maintenance"
    small = run("silence", "add", "instance=web1", "--comment=one host", "--duration=1h")
    assert small.returncode == 0, small.stderr
    # the preview now sees the forced silence on the matched alerts
    preview = httpx.post(f"{bridge.url}/api/v2/silences/preview", json=body([("service", "db", False)]),
                         timeout=30).json()
    assert all(a["status"]["silencedBy"] == [silence_id] for a in preview["matchesNow"]["alerts"])
    for sid in (silence_id, small.stdout.strip()):
        assert run("silence", "expire", sid).returncode == 0
