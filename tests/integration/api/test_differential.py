"""Differential: the same alerts and silences given to a real Alertmanager 0.25 and to the bridge's API
(alerts through alerts.enriched, as the route stage writes them); every read answer and error answer
must be the same JSON, once silence ids and the times each side stamps itself are normalized.

Known, deliberate differences (not compared): ``DELETE /silence/<unknown>`` (0.25: 500, a bug; we:
404), ``/status`` ``config.original`` (0.25 re-marshals the file) and ``versionInfo`` values.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from pipeline.api.handlers import go_time
from tests.integration.api.conftest import AM_CONFIG, get_json, wait_for
from tests.integration.peer_processes import running_alertmanager

NOW = datetime.now(timezone.utc).replace(microsecond=123000)
ALERTS = [
    {"labels": {"alertname": "A", "service": "db", "severity": "critical", "instance": "i1", "job": "j"},
     "annotations": {"summary": "s"}, "generatorURL": "http://x/g"},
    {"labels": {"alertname": "A", "service": "db", "severity": "warning", "instance": "i2", "job": "j"}},
    {"labels": {"alertname": "A", "service": "db", "severity": "warning", "instance": "i3"}},
    {"labels": {"alertname": "B", "service": "web"}, "annotations": {"runbook": "r"}},
    {"labels": {"alertname": "C", "service": "api", "severity": "warning"}},
    {"labels": {"alertname": "D"}},
]
SILENCES = [
    [{"name": "alertname", "value": "B", "isRegex": False}],
    [{"name": "service", "value": "d.*", "isRegex": True, "isEqual": True},
     {"name": "instance", "value": "i3", "isRegex": False, "isEqual": False}],
    [{"name": "alertname", "value": "D", "isRegex": False}],  # pending
]
READS = [
    "/api/v2/alerts", "/api/v2/alerts?active=false", "/api/v2/alerts?silenced=false",
    "/api/v2/alerts?inhibited=false&silenced=false", '/api/v2/alerts?filter=service="db"&filter=job!=""',
    "/api/v2/alerts?filter=instance=", "/api/v2/alerts?receiver=team-.*", "/api/v2/alerts?receiver=default",
    "/api/v2/alerts?unprocessed=false&active=no",
    "/api/v2/alerts/groups", "/api/v2/alerts/groups?receiver=team-db", "/api/v2/alerts/groups?active=false",
    "/api/v2/alerts/groups?filter=alertname=~A|B&silenced=false",
    "/api/v2/silences", "/api/v2/silences?filter=alertname=B", "/api/v2/silences?filter=service=~d.*",
    "/api/v2/receivers",
    # errors
    "/api/v2/alerts?filter=foo", '/api/v2/alerts?filter=a=~"("', "/api/v2/alerts?receiver=(",
    "/api/v2/alerts/groups?filter=", "/api/v2/silences?filter={a=b}",
    "/api/v2/silence/abc", "/api/v2/silence/6b7b1e8e-0000-4000-8000-000000000000",
]
STAMPED = {"updatedAt"}  # each side stamps it with its own clock


def silence_body(matchers, pending: bool = False, **extra) -> dict[str, Any]:
    starts = NOW + timedelta(minutes=30) if pending else NOW
    return {"matchers": matchers, "startsAt": go_time(starts), "endsAt": go_time(NOW + timedelta(hours=1)),
            "createdBy": "diff", "comment": "same on both", **extra}


BAD_SILENCES = [
    silence_body([{"name": "a", "value": "", "isRegex": False}]),
    silence_body([{"name": "a", "value": "x", "isRegex": True, "isEqual": False}],
                 endsAt=go_time(NOW - timedelta(hours=1)), startsAt=go_time(NOW - timedelta(hours=2))),
    silence_body([{"name": "a", "value": "x", "isRegex": False}], endsAt=go_time(NOW)),
    silence_body([{"name": "a", "value": "(", "isRegex": True}]),
    silence_body([{"name": "a", "value": "x"}]),
    silence_body([]),
    {k: v for k, v in silence_body([{"name": "a", "value": "x", "isRegex": False}]).items() if k != "comment"},
    silence_body([{"name": "a", "value": "x", "isRegex": False}], id="6b7b1e8e-0000-4000-8000-000000000000"),
]


def normalize(value: Any, ids: dict[str, str], silence_starts: bool = False) -> Any:
    if isinstance(value, dict):
        is_silence = "createdBy" in value
        out = {}
        for key, item in value.items():
            if key in STAMPED or (is_silence and key == "startsAt" and item != go_time(NOW + timedelta(minutes=30))):
                out[key] = "<stamped>"  # a silence starting now is clamped to each side's now
            elif is_silence and key == "endsAt" and value.get("status", {}).get("state") == "expired":
                out[key] = "<stamped>"
            else:
                out[key] = normalize(item, ids)
        return out
    if isinstance(value, (list, tuple)):
        return [normalize(item, ids) for item in value]
    if isinstance(value, str):
        for real, stable in ids.items():
            value = value.replace(real, stable)
    return value


@pytest.fixture(scope="module")
def peers(bridge, enriched_writer, tmp_path_factory):
    with running_alertmanager(tmp_path_factory.mktemp("am"), AM_CONFIG) as am:
        starts, ends = NOW - timedelta(minutes=2), NOW + timedelta(minutes=10)
        body = [{**a, "startsAt": go_time(starts), "endsAt": go_time(ends)} for a in ALERTS]
        assert httpx.post(f"{am.url}/api/v2/alerts", json=body).status_code == 200
        for a in ALERTS:
            enriched_writer.send(a["labels"], annotations=a.get("annotations"), starts_at=starts, ends_at=ends,
                                 generator_url=a.get("generatorURL", ""))
        wait_for(lambda: get_json(f"{bridge.url}/api/v2/alerts"), lambda got: len(got) == len(ALERTS),
                 what="alerts in the view")
        ids: dict[str, str] = {}
        for n, matchers in enumerate(SILENCES):
            # Each its own endsAt: Alertmanager orders active silences by endsAt with an unstable sort, so
            # equal ones come back in either order (the list read failed on that, now and then).
            body = silence_body(matchers, pending=n == 2, endsAt=go_time(NOW + timedelta(hours=1, minutes=n)))
            theirs = httpx.post(f"{am.url}/api/v2/silences", json=body).json()["silenceID"]
            ours = httpx.post(f"{bridge.url}/api/v2/silences", json=body).json()["silenceID"]
            ids[theirs] = ids[ours] = f"<silence {n}>"
        yield am, ids


def answer(url: str, method: str = "GET", **kwargs) -> tuple[int, Any]:
    response = httpx.request(method, url, timeout=10, **kwargs)
    return response.status_code, (response.json() if response.content else None)


@pytest.mark.parametrize("path", READS)
def test_reads_match_alertmanager(peers, bridge, path):
    am, ids = peers
    theirs, ours = answer(am.url + path), answer(bridge.url + path)
    assert normalize(ours, ids) == normalize(theirs, ids)


def test_silence_by_id_matches(peers, bridge):
    am, ids = peers
    by_name = {stable: real for real, stable in ids.items()}
    for real, stable in ids.items():
        other = next(r for r, s in ids.items() if s == stable and r != real)
        if not re.match(r"^[0-9a-f-]{36}$", real):
            continue
        theirs = answer(f"{am.url}/api/v2/silence/{real}")
        ours = answer(f"{bridge.url}/api/v2/silence/{other}")
        if theirs[0] == 404:  # `real` is ours, `other` theirs: the other direction covers it
            continue
        assert normalize(ours, ids) == normalize(theirs, ids)
    assert by_name


@pytest.mark.parametrize("n", range(len(BAD_SILENCES)))
def test_silence_errors_match(peers, bridge, n):
    am, ids = peers
    theirs = answer(f"{am.url}/api/v2/silences", "POST", json=BAD_SILENCES[n])
    ours = answer(f"{bridge.url}/api/v2/silences", "POST", json=BAD_SILENCES[n])
    assert ours == theirs


def test_unparseable_silence_body_matches_in_kind(peers, bridge):
    am, _ = peers
    theirs = answer(f"{am.url}/api/v2/silences", "POST", content=b"nope", headers={"content-type": "application/json"})
    ours = answer(f"{bridge.url}/api/v2/silences", "POST", content=b"nope", headers={"content-type": "application/json"})
    assert ours[0] == theirs[0] == 400 and set(ours[1]) == set(theirs[1]) == {"code", "message"}


def test_expire_matches(peers, bridge):
    am, ids = peers
    for n in (0, 2):  # active, pending
        theirs_id = next(r for r, s in ids.items() if s == f"<silence {n}>" and _on(am.url, r))
        ours_id = next(r for r, s in ids.items() if s == f"<silence {n}>" and r != theirs_id)
        assert answer(f"{am.url}/api/v2/silence/{theirs_id}", "DELETE") == (200, None)
        assert answer(f"{bridge.url}/api/v2/silence/{ours_id}", "DELETE") == (200, None)
        assert normalize(answer(f"{bridge.url}/api/v2/silence/{ours_id}"), ids) == normalize(
            answer(f"{am.url}/api/v2/silence/{theirs_id}"), ids)
        # expiring again is a no-op on both
        assert answer(f"{am.url}/api/v2/silence/{theirs_id}", "DELETE") == (200, None)
        assert answer(f"{bridge.url}/api/v2/silence/{ours_id}", "DELETE") == (200, None)
    assert normalize(answer(f"{bridge.url}/api/v2/silences"), ids) == normalize(answer(f"{am.url}/api/v2/silences"), ids)
    assert normalize(answer(f"{bridge.url}/api/v2/alerts"), ids) == normalize(answer(f"{am.url}/api/v2/alerts"), ids)


def _on(url: str, silence_id: str) -> bool:
    return httpx.get(f"{url}/api/v2/silence/{silence_id}").status_code == 200


def test_status_shape_matches(peers, bridge):
    am, _ = peers
    theirs, ours = get_json(f"{am.url}/api/v2/status"), get_json(f"{bridge.url}/api/v2/status")
    assert set(ours) == set(theirs) and set(ours["versionInfo"]) == set(theirs["versionInfo"])
    assert ours["cluster"] == theirs["cluster"]
    assert set(ours["config"]) == set(theirs["config"]) == {"original"}
