"""The Alertmanager API v2 read/silence side in a real bridge process against the real broker, and the
real ``amtool`` 0.25 against it.

Alerts are written to alerts.enriched as the route stage writes them; silences go through the API
(POST/DELETE write the ``silences`` topic with acks=all and answer once the view has read them back).
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from pipeline.runtime.reader import read_topic
from tests.integration.api.conftest import get_json, wait_for
from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.peer_processes import require_binary

CRIT = {"alertname": "A", "service": "db", "severity": "critical", "instance": "i1"}
WARN = {"alertname": "A", "service": "db", "severity": "warning", "instance": "i2"}
WEB = {"alertname": "B", "service": "web"}


@pytest.fixture(scope="module")
def alerts(bridge, enriched_writer):
    records = {
        "crit": enriched_writer.send(CRIT, annotations={"summary": "s"}, generator_url="http://x/g"),
        "warn": enriched_writer.send(WARN),
        "web": enriched_writer.send(WEB),
    }
    gone = enriched_writer.send({"alertname": "Gone"})
    enriched_writer.send({"alertname": "Gone"}, status="resolved")  # the latest record wins
    records["gone"] = gone
    wait_for(lambda: get_json(f"{bridge.url}/api/v2/alerts"), lambda a: len(a) == 3, what="three alerts")
    return records


@pytest.fixture(scope="module")
def amtool_binary() -> str:
    return require_binary("amtool")


def amtool(binary: str, bridge, *args: str) -> str:
    result = subprocess.run([binary, f"--alertmanager.url={bridge.url}", *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"amtool {' '.join(args)}: {result.stdout}{result.stderr}\n{bridge.log()}"
    return result.stdout


def test_alerts_from_kafka_with_status_and_filters(bridge, alerts):
    items = get_json(f"{bridge.url}/api/v2/alerts")
    by_name = {(a["labels"]["alertname"], a["labels"].get("severity")): a for a in items}
    warn, crit = by_name[("A", "warning")], by_name[("A", "critical")]
    assert warn["fingerprint"] == alerts["warn"].alert.fingerprint
    assert warn["status"] == {"inhibitedBy": [crit["fingerprint"]], "silencedBy": [], "state": "suppressed"}
    assert crit["receivers"] == [{"name": "team-db"}] and crit["generatorURL"] == "http://x/g"
    assert [a["labels"] for a in get_json(f"{bridge.url}/api/v2/alerts", inhibited="false",
                                          filter='service="db"')] == [CRIT]
    assert [a["labels"] for a in get_json(f"{bridge.url}/api/v2/alerts", receiver="team-web")] == [WEB]
    bad = httpx.get(f"{bridge.url}/api/v2/alerts", params={"filter": "nope"})
    assert bad.status_code == 400 and bad.json() == "bad matcher format: nope"
    groups = get_json(f"{bridge.url}/api/v2/alerts/groups")
    assert [(g["labels"], g["receiver"]["name"]) for g in groups] == [
        ({"alertname": "B"}, "team-web"), ({"alertname": "A", "instance": "i1"}, "team-db"),
        ({"alertname": "A", "instance": "i2"}, "team-db")]
    assert get_json(f"{bridge.url}/api/v2/receivers") == [{"name": "default"}, {"name": "team-db"},
                                                           {"name": "team-web"}]
    assert get_json(f"{bridge.url}/api/v2/status")["cluster"] == {"peers": [], "status": "disabled"}
    # the POST side is untouched by the GET route on the same path
    posted = httpx.post(f"{bridge.url}/api/v2/alerts", json=[{"labels": {"alertname": "Post"}}])
    assert posted.status_code == 200 and posted.json()["accepted"] == 1


def test_silence_lifecycle_is_read_your_writes_and_durable(bridge, alerts, tmp_path):
    now = datetime.now(timezone.utc)
    body = {"matchers": [{"name": "alertname", "value": "B", "isRegex": False}],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "test", "comment": "durable"}
    answer = httpx.post(f"{bridge.url}/api/v2/silences", json=body, timeout=20)
    assert answer.status_code == 200, answer.text
    silence_id = answer.json()["silenceID"]
    # no polling: the answer came only once the view had the silence
    assert get_json(f"{bridge.url}/api/v2/silence/{silence_id}")["status"] == {"state": "active"}
    web = get_json(f"{bridge.url}/api/v2/alerts", filter="alertname=B")[0]
    assert web["status"] == {"inhibitedBy": [], "silencedBy": [silence_id], "state": "suppressed"}
    # on the compacted topic, keyed by id
    records = [r for r in read_topic(bridge.settings, "silences") if r.key == silence_id]
    assert records and records[-1].value.comment == "durable"
    # a second bridge process (a replica, or a restart) rebuilds the same view from the topics
    with running_bridge(bridge.settings, OPEN_SOURCES, tmp_path) as replica:
        assert get_json(f"{replica.url}/api/v2/silence/{silence_id}")["status"] == {"state": "active"}
        assert len(get_json(f"{replica.url}/api/v2/alerts")) == 3
        # expiring on the replica is seen by the first bridge too
        assert httpx.delete(f"{replica.url}/api/v2/silence/{silence_id}").status_code == 200
        assert get_json(f"{replica.url}/api/v2/silence/{silence_id}")["status"] == {"state": "expired"}
    wait_for(lambda: get_json(f"{bridge.url}/api/v2/silence/{silence_id}")["status"]["state"],
             lambda state: state == "expired", what="expiry seen by the first bridge")
    assert httpx.get(f"{bridge.url}/api/v2/silence/6b7b1e8e-0000-4000-8000-000000000000").status_code == 404


def test_amtool_alert_query(bridge, alerts, amtool_binary):
    shown = json.loads(amtool(amtool_binary, bridge, "alert", "query", "-o", "json"))
    assert sorted(a["labels"]["alertname"] + a["labels"].get("severity", "") for a in shown) == [
        "Acritical", "B"]  # amtool shows active alerts only by default
    inhibited = json.loads(amtool(amtool_binary, bridge, "alert", "query", "-i", "-o", "json",
                                  "severity=warning"))
    assert [a["labels"] for a in inhibited] == [WARN]
    simple = amtool(amtool_binary, bridge, "alert", "query", "alertname=A")
    assert simple.splitlines()[0].split() == ["Alertname", "Starts", "At", "Summary", "State"]
    assert "active" in simple.splitlines()[1]
    by_receiver = json.loads(amtool(amtool_binary, bridge, "alert", "query", "-o", "json", "-r", "team-web"))
    assert [a["labels"] for a in by_receiver] == [WEB]


def test_amtool_silence_add_query_expire(bridge, alerts, amtool_binary):
    silence_id = amtool(amtool_binary, bridge, "silence", "add", "alertname=A", "severity=~crit.*",
                        "-c", "amtool comment", "-a", "amtool-user", "-d", "1h").strip()
    assert len(silence_id) == 36
    assert silence_id in amtool(amtool_binary, bridge, "silence", "query", "-q").split()
    listed = json.loads(amtool(amtool_binary, bridge, "silence", "query", "-o", "json", "alertname=A"))
    assert [s["id"] for s in listed] == [silence_id]
    assert listed[0]["createdBy"] == "amtool-user" and listed[0]["comment"] == "amtool comment"
    # the silenced alert leaves amtool's default view and shows with -s
    shown = json.loads(amtool(amtool_binary, bridge, "alert", "query", "-o", "json"))
    assert [a["labels"]["alertname"] for a in shown] == ["B"]
    silenced = json.loads(amtool(amtool_binary, bridge, "alert", "query", "-s", "-o", "json", "severity=critical"))
    assert [a["status"]["silencedBy"] for a in silenced] == [[silence_id]]

    # `silence update` (GET, then POST with the id): same matchers and start, so updated in place
    amtool(amtool_binary, bridge, "silence", "update", silence_id, "-d", "3h")  # (-q prints a Go pointer)
    [updated] = json.loads(amtool(amtool_binary, bridge, "silence", "query", "-o", "json", "alertname=A"))
    assert updated["id"] == silence_id
    ends_at = updated["endsAt"]
    assert datetime.fromisoformat(ends_at.replace("Z", "+00:00")) > datetime.now(timezone.utc) + timedelta(hours=2)

    amtool(amtool_binary, bridge, "silence", "expire", silence_id)
    assert silence_id not in amtool(amtool_binary, bridge, "silence", "query", "-q").split()
    assert silence_id in amtool(amtool_binary, bridge, "silence", "query", "--expired", "-q").split()
    # expiring an unknown silence fails (404)
    failed = subprocess.run([amtool_binary, f"--alertmanager.url={bridge.url}", "silence", "expire",
                             "6b7b1e8e-0000-4000-8000-000000000000"], capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0


def test_amtool_status_commands(bridge, amtool_binary):
    routes = amtool(amtool_binary, bridge, "config", "routes")
    assert "receiver: team-db" in routes and "continue: true" in routes
    assert "global:" in amtool(amtool_binary, bridge, "config", "show")
    assert "disabled" in amtool(amtool_binary, bridge, "cluster", "show")


def test_readyz_waits_for_the_view(bridge):
    assert httpx.get(f"{bridge.url}/readyz").status_code == 200
