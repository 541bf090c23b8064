"""The NATS JetStream source against a real nats-server and a real broker, as `pipeline sources run`.

- messages become raw alerts with the source's labels; bad ones go to alerts.dlq with the reason and
  are acked; the consumer ends with nothing pending or unacked;
- kill -9 of the source mid-stream, restart: every alert is on alerts.raw, and downstream of the real
  normalize and dedup workers each alert is forwarded exactly once. The test counts the duplicates
  JetStream's redelivery wrote to alerts.raw and prints them.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter

import httpx
import orjson

from pipeline.dead_letters import header_dict
from pipeline.devenv.components import Component
from pipeline.models import to_builtins
from pipeline.settings import WorkerSettings
from tests.integration.helpers import SPLIT_TOPOLOGY, wait_for_records
from tests.integration.pipeline_harness import wait_for_stage_groups
from tests.integration.sources.conftest import (
    consumer_state,
    create_stream,
    publish_all,
    run_async,
    running_sources,
)


def nats_source(url: str, stream: str, subject: str, **nats: object) -> dict:
    return {"kind": "stream", "type": "nats", "labels": {"region": "eu1"},
            "nats": {"servers": [url], "stream": stream, "subject": subject, "ack_wait": "3s", **nats}}


def wait_until_consumed(url: str, stream: str, durable: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    state = (-1, -1)
    while time.monotonic() < deadline:
        state = run_async(consumer_state(url, stream, durable))
        if state == (0, 0):
            return
        time.sleep(0.2)
    raise AssertionError(f"consumer {durable}: (pending, unacked) = {state} after {timeout}s")


def test_messages_become_raw_alerts_and_bad_ones_are_dead_lettered(settings, applied_topology, nats_url, tmp_path):
    stream, subject = f"S{uuid.uuid4().hex[:8]}", f"alerts.{uuid.uuid4().hex[:8]}"
    create_stream(nats_url, stream, [f"{subject}.>"])
    good = [orjson.dumps([{"labels": {"alertname": "NatsAlert", "n": str(i)}, "annotations": {"summary": "s"}}])
            for i in range(20)]
    not_json = b"{not json"
    not_a_list = orjson.dumps({"labels": {"alertname": "NotAList"}})
    half_valid = orjson.dumps([{"labels": {"alertname": "HalfValid"}}, {"labels": {"0bad": "x"}}])
    run_async(publish_all(nats_url, f"{subject}.a", good[:10]))
    run_async(publish_all(nats_url, f"{subject}.b", [not_json, not_a_list, half_valid], headers={"origin": "t"}))
    run_async(publish_all(nats_url, f"{subject}.a", good[10:]))

    with running_sources(settings, {"nats-in": nats_source(nats_url, stream, f"{subject}.>")}, tmp_path) as runner:
        raw = wait_for_records(settings, "alerts.raw", lambda records: len(records) >= 21,
                               describe=runner.log)
        dlq = wait_for_records(settings, "alerts.dlq", lambda records: len(records) >= 3, describe=runner.log)
        wait_until_consumed(nats_url, stream, "pipeline-nats-in")
        metrics = httpx.get(f"{runner.url}/metrics", timeout=5).text
        status = runner.status()

    alerts = [record.value for record in raw]
    assert sorted(a.labels.get("n", a.labels["alertname"]) for a in alerts) == sorted(
        [str(i) for i in range(20)] + ["HalfValid"])
    assert all(a.labels["region"] == "eu1" and a.source == "nats-in" for a in alerts)
    assert all(a.source_format == "alertmanager-v2" and a.fingerprint for a in alerts)
    assert {record.key for record in raw} == {a.fingerprint for a in alerts}

    letters = {record.value: header_dict(_raw_headers(record)) for record in dlq}
    assert set(letters) == {not_json, not_a_list, half_valid}
    assert "not valid JSON" in letters[not_json]["__connect.errors.exception.message"]
    assert "expected a JSON array" in letters[not_a_list]["__connect.errors.exception.message"]
    half = letters[half_valid]
    assert 'invalid name "0bad"' in half["__connect.errors.exception.message"]
    assert half["pipeline.errors.accepted"] == "1" and half["__connect.errors.exception.class.name"] == "InvalidAlert"
    for headers in letters.values():
        assert headers["__connect.errors.connector.name"] == "source/nats-in"
        assert headers["__connect.errors.topic"] == f"nats:{stream}:{subject}.b"
        assert headers["origin"] == "t"  # the message's own headers are kept
    assert 'pipeline_source_alerts_received_total{kind="stream",source="nats-in"} 21.0' in metrics
    assert 'pipeline_source_alerts_rejected_total{kind="stream",reason="bad_payload",source="nats-in"} 2.0' in metrics
    assert 'pipeline_source_alerts_rejected_total{kind="stream",reason="invalid_alert",source="nats-in"} 1.0' in metrics
    assert status[0]["health"] == "ok" and status[0]["durable"] == "pipeline-nats-in"


def _raw_headers(record) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in record.headers.items()]


def test_kill_9_mid_stream_loses_nothing_and_dedup_absorbs_the_redeliveries(settings, applied_topology, nats_url,
                                                                             tmp_path):
    total = 4000
    stream, subject = f"K{uuid.uuid4().hex[:8]}", f"kill.{uuid.uuid4().hex[:8]}"
    create_stream(nats_url, stream, [subject])
    run_async(publish_all(nats_url, subject, [
        orjson.dumps([{"labels": {"alertname": "KillNine", "id": str(i)}}]) for i in range(total)]))
    # The split topology runs dedup in a chain of its own, so alerts.deduped is written and can be read.
    configured = settings.model_copy(update={
        "worker": WorkerSettings(data_dir=tmp_path / "state"),
        "topics": settings.topics.model_copy(update={"topology_file": SPLIT_TOPOLOGY})})
    spec = {"killed": nats_source(nats_url, stream, subject, batch=25, ack_wait="2s")}

    with Component("normalize", ["worker", "normalize"], configured, tmp_path / "logs") as normalize, \
            Component("dedup", ["worker", "dedup"], configured, tmp_path / "logs") as dedup:
        wait_for_stage_groups(configured, ("normalize", "dedup"), {"normalize": normalize, "dedup": dedup})
        with running_sources(configured, spec, tmp_path / "first", name="sources-first") as first:
            wait_for_records(configured, "alerts.raw", lambda records: len(records) >= total // 4,
                             describe=first.log, timeout=60)
            os.kill(first.component.process.pid(), signal.SIGKILL)  # mid-stream: thousands still unread
            before_kill = Counter(record.value.labels["id"] for record in _read_raw(configured))
        assert len(before_kill) < total, "the source finished before it was killed; nothing was tested"

        with running_sources(configured, spec, tmp_path / "second", name="sources-second") as second:
            raw = wait_for_records(configured, "alerts.raw",
                                   lambda records: len({r.value.labels["id"] for r in records}) == total,
                                   describe=second.log, timeout=90)
            wait_until_consumed(nats_url, stream, "pipeline-killed")
        deduped = wait_for_records(configured, "alerts.deduped", lambda records: len(
            {r.value.alert.labels["id"] for r in records}) == total, timeout=90,
            describe=lambda: dedup.log_tail(30) + normalize.log_tail(30))
        time.sleep(2.0)  # anything a duplicate would still forward is through by now
        deduped = wait_for_records(configured, "alerts.deduped", lambda records: len(records) >= len(deduped))

    on_raw = Counter(record.value.labels["id"] for record in raw)
    assert set(on_raw) == {str(i) for i in range(total)}, "an alert was lost"
    duplicates = sum(count - 1 for count in on_raw.values())
    downstream = Counter(record.value.alert.labels["id"] for record in deduped)
    print(f"\nkill -9 after {len(before_kill)} of {total} alerts were on alerts.raw: {duplicates} duplicates "
          f"on alerts.raw (redelivered by JetStream), {sum(downstream.values()) - total} forwarded by dedup")
    # Redelivered messages give byte-identical records (received_at is the JetStream timestamp).
    by_id: dict[str, set[bytes]] = {}
    for record in raw:
        by_id.setdefault(record.value.labels["id"], set()).add(orjson.dumps(to_builtins(record.value)))
    assert all(len(versions) == 1 for versions in by_id.values())
    assert all(count == 1 for count in downstream.values()), "dedup forwarded a redelivered alert twice"
    assert all(record.value.change == "new" for record in deduped)


def _read_raw(settings):
    from pipeline.runtime.reader import read_topic

    return list(read_topic(settings, "alerts.raw"))


def test_a_source_that_cannot_reach_nats_is_failing_and_recovers(settings, applied_topology, nats_url, tmp_path):
    """A stream that does not exist yet: the breaker opens, /readyz says why; once the stream exists the
    source consumes without a restart."""
    stream, subject = f"L{uuid.uuid4().hex[:8]}", f"late.{uuid.uuid4().hex[:8]}"
    spec = {"late": {**nats_source(nats_url, stream, subject), "breaker": {"failures": 1, "cooldown": "1s"}}}
    with running_sources(settings, spec, tmp_path, ready=False) as runner:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready = httpx.get(f"{runner.url}/readyz", timeout=5)
            if ready.status_code == 503 and ready.json()["sources"]["late"] == "failing":
                break
            time.sleep(0.2)
        assert ready.status_code == 503, ready.text
        assert "late: failing" in ready.json()["detail"]
        assert "stream not found" in runner.status()[0]["detail"].lower()
        create_stream(nats_url, stream, [subject])
        run_async(publish_all(nats_url, subject, [orjson.dumps([{"labels": {"alertname": "Late"}}])]))
        raw = wait_for_records(settings, "alerts.raw", lambda records: len(records) == 1, describe=runner.log)
        assert raw[0].value.labels["alertname"] == "Late"
        assert httpx.get(f"{runner.url}/readyz", timeout=5).status_code == 200

