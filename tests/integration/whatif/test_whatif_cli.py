"""`pipeline whatif` against the real broker: the hand-worked timeline of tests/unit/whatif/timeline.py
written to this test's own alerts.raw and silences topics with Kafka timestamps an hour in the past,
replayed by the CLI under the current and the candidate configuration.

Besides the timeline's five alerts the topics hold:

    T0 - 30m   Early alert     before the window: not read (the time index seeks past it)
    T0 + 100s  silence s1      instance="w2", written then (so it applies from then, in both replays)
    END + 60s  Late alert      after the window: read, dropped by its timestamp

With s1, hand-worked from the timeline's table: under CURRENT web gets WebErr@50 [w1, w2] and @350 [w1]
(w2 is silenced from 100 s on); under CANDIDATE (one group per instance) @50 [w1], @55 [w2], @350 [w1]
(w2's resolved notification is silenced). So web: 2 → 3, 2 removed, 3 added; pager and db as in the
timeline's table; no alert newly silenced (s1 mutes w2 in both).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
from click.testing import CliRunner
from confluent_kafka import Producer

from pipeline import wire
from pipeline.cli import main as cli
from pipeline.fingerprint import alert_fingerprint
from pipeline.models import Matcher, Silence
from pipeline.runtime.producer import durable_config
from tests.unit.whatif import timeline as tl

NOW = datetime.now(timezone.utc).replace(microsecond=0)
T0 = NOW - timedelta(hours=1)
END = T0 + (tl.END - tl.T0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def write_timeline(settings, topology) -> None:
    raw_topic = settings.topic(topology.stages["normalize"].inputs["raw"])
    silences_topic = settings.topic(topology.stages["mute"].reads["silences"])
    producer = Producer(durable_config(settings.kafka, 10.0))

    def alert(labels: dict, when: datetime) -> None:
        producer.produce(raw_topic, key=alert_fingerprint(labels).encode(), value=tl.raw_alert(labels, when),
                         timestamp=int(when.timestamp() * 1000))

    alert({"alertname": "Early", "team": "db"}, T0 - timedelta(minutes=30))
    for seconds, labels in tl.ALERTS:
        alert(labels, at(seconds))
    alert({"alertname": "Late", "team": "db"}, END + timedelta(seconds=60))
    s1 = Silence(id="s1", matchers=[Matcher(name="instance", value="w2")], starts_at=at(0),
                 ends_at=at(3600), updated_at=at(100), created_by="test", comment="whatif")
    producer.produce(silences_topic, key=b"s1", value=wire.encode(s1), timestamp=int(at(100).timestamp() * 1000))
    assert producer.flush(10) == 0


def run(settings, tmp_path, current: str, candidate: str, *args: str, **env: str):
    (tmp_path / "current.yml").write_text(current)
    (tmp_path / "candidate.yml").write_text(candidate)
    (tmp_path / "rules.yaml").write_text(tl.RULES)
    environment = {"PIPELINE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
                   "PIPELINE_TOPICS__PREFIX": settings.topics.prefix,
                   "PIPELINE_ALERTMANAGER_CONFIG": str(tmp_path / "current.yml"),
                   "PIPELINE_CLASSIFICATION__RULES_FILE": str(tmp_path / "rules.yaml"), **env}
    window = ["--from", T0.isoformat(), "--to", END.isoformat()]
    return CliRunner().invoke(cli, ["whatif", "--config", str(tmp_path / "candidate.yml"), *window, *args],
                              env=environment)


def test_whatif_cli_against_the_broker(settings, applied_topology, tmp_path):
    write_timeline(settings, applied_topology)
    result = run(settings, tmp_path, tl.CURRENT, tl.CANDIDATE, "--format", "json", "--fail-on-lost-page", "P0")
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    window = data["window"]
    # five alerts in the window (Early is before the seek point, Late after the end), one silence record
    assert (window["alertRecords"], window["silenceRecords"], window["capped"]) == (5, 1, False)
    assert window["topic"] == "alerts.raw" and not window["clippedByRetention"]
    got = {r["receiver"]: (r["current"], r["candidate"], r["added"], r["removed"], r["changed"], r["unchanged"])
           for r in data["notifications"]["receivers"]}
    assert got == {"pager": tl.EXPECTED_RECEIVERS["pager"], "db": tl.EXPECTED_RECEIVERS["db"],
                   "web": (2, 3, 3, 2, 0, 0)}
    [changed] = [r for r in data["notifications"]["receivers"] if r["receiver"] == "db"][0]["examples"]["changed"]
    assert changed["what"] == ["alerts"] and len(changed["alertsRemoved"]) == 1 and changed["alertsAdded"] == []
    assert changed["before"]["at"] == at(40).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert (data["inhibited"]["new"], data["silenced"]["new"], data["silenced"]["noLonger"]) == (1, 0, 0)
    assert data["inhibited"]["examples"]["new"][0]["labels"]["instance"] == "db2"
    assert data["pages"]["lost"] == {"P2": 1} and data["pages"]["gained"] == {"P0": 1}
    assert data["failOnLostPage"] == {"priorities": ["P0"], "lost": 0, "exitCode": 0}
    assert (data["current"]["deadLetters"], data["candidate"]["deadLetters"]) == (0, 0)

    # back from the candidate to the current configuration: the pager's P0 page is lost, exit 3
    reverse = run(settings, tmp_path, tl.CANDIDATE, tl.CURRENT, "--fail-on-lost-page", "P0")
    assert reverse.exit_code == 3, reverse.output
    assert "pages lost: P0 1" in reverse.stdout and "1 would be lost (exit 3)" in reverse.stdout

    # a bound on the records read: said in the answer and on stderr
    capped = run(settings, tmp_path, tl.CURRENT, tl.CANDIDATE, "--format", "json", PIPELINE_WHATIF__MAX_RECORDS="2")
    assert capped.exit_code == 0, capped.output
    window = orjson.loads(capped.stdout)["window"]
    assert window["capped"] and window["cappedBy"] == ["alerts.raw: records"] and window["alertRecords"] <= 2
    assert "warning: capped (alerts.raw: records)" in capped.stderr

    # a candidate that does not load: the loader's message, exit 2
    bad = run(settings, tmp_path, tl.CURRENT, "route:\n  receiver: nobody\nreceivers: []\n")
    assert bad.exit_code == 2 and "the candidate configuration does not load" in bad.stderr, bad.output
