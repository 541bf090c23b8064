"""The history chain as a real worker next to every other chain, on the real broker, Redis and
PostgreSQL: an alert posted to the bridge is delivered to a webhook, and its state change, its
notification and the delivery outcome land in PostgreSQL once each; records read again (a replay)
write no new row. Also: without history.enabled the history chain is not started, and a worker
asked for it refuses."""

from __future__ import annotations

import time
import uuid

import psycopg
from click.testing import CliRunner
from confluent_kafka import Consumer, Producer, TopicPartition

from pipeline import wire
from pipeline.runtime.producer import durable_config
from pipeline.runtime.reader import read_topic
from pipeline.settings import settings_env
from pipeline.topology import load_topology
from tests.integration.helpers import settings_with_topology
from tests.integration.pipeline_harness import WebhookCollector, chains_of, running_pipeline

CONFIG = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: "{url}/hook"}}]
"""


def wait_until(condition, what: str, pipeline, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        pipeline.check_alive()
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout:.0f}s\n{pipeline.logs()}")


def rows(conn, run: str) -> dict[str, list[tuple]]:
    changes = conn.execute("SELECT fingerprint, change, status, alertname, receivers FROM alert_changes "
                           "WHERE labels->>'run' = %s", (run,)).fetchall()
    fingerprints = [c[0] for c in changes]
    notifications = conn.execute("SELECT id, receiver, integration, status, fingerprints FROM notifications "
                                 "WHERE fingerprints && %s::text[]", (fingerprints,)).fetchall()
    ids = [n[0] for n in notifications]
    outcomes = conn.execute("SELECT notification_id, attempt, outcome, receiver, integration, error, status_code "
                            "FROM delivery_outcomes WHERE notification_id = ANY(%s)", (ids,)).fetchall()
    return {"alert_changes": changes, "notifications": notifications, "delivery_outcomes": outcomes}


def replay(settings, topic: str, keep) -> int:
    """Write the topic's records that ``keep`` selects again, as a crash before the commit would
    have the history read them again."""
    again = [record for record in read_topic(settings, topic) if keep(record.value)]  # read, then write
    producer = Producer(durable_config(settings.kafka, 10))
    for record in again:
        producer.produce(settings.topic(topic), key=record.key.encode() if record.key else None,
                         value=wire.encode(record.value))
    assert producer.flush(15) == 0
    return len(again)


def caught_up(settings, group: str, topics: list[str]) -> bool:
    """The group committed every partition of ``topics`` up to its end."""
    consumer = Consumer({**settings.kafka.client_config(), "group.id": group, "enable.auto.commit": False})
    try:
        for topic in topics:
            name = settings.topic(topic)
            partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
            committed = consumer.committed([TopicPartition(name, p) for p in partitions], timeout=10)
            for tp in committed:
                low, high = consumer.get_watermark_offsets(tp, timeout=10)
                if high > low and tp.offset < high:
                    return False
        return True
    finally:
        consumer.close()


def test_an_alert_is_delivered_and_its_history_written_once(kafka_bootstrap, history_db, db, tmp_path):
    settings = settings_with_topology(kafka_bootstrap, "hist")
    history = history_db.model_copy(update={"enabled": True, "flapping_refresh_s": 1.0})
    collector = WebhookCollector().start()
    run = uuid.uuid4().hex[:8]
    try:
        with running_pipeline(settings, tmp_path, CONFIG.format(url=collector.url), sink=True,
                              history=history) as pipeline:
            assert set(pipeline.workers) == {"normalize", "group", "sink", "history"}
            pipeline.post_alerts([{"labels": {"alertname": "HistoryE2E", "severity": "warning", "run": run},
                                   "annotations": {"summary": "kept in PostgreSQL"}}])
            wait_until(lambda: collector.at("/hook"), "a webhook delivery", pipeline)
            found = wait_until(lambda: (lambda r: r if all(r.values()) else None)(rows(db, run)),
                               "the change, notification and outcome rows", pipeline)

            [change] = found["alert_changes"]
            assert change[1:4] == ("new", "firing", "HistoryE2E") and change[4] == ["hook"]
            [notification] = found["notifications"]
            assert notification[1:4] == ("hook", "webhook/0", "firing") and notification[4] == [change[0]]
            [outcome] = found["delivery_outcomes"]
            assert outcome == (notification[0], 1, "delivered", "hook", "webhook/0", "", 200)
            [delivery] = collector.at("/hook")
            assert [a["labels"]["run"] for a in delivery.body["alerts"]] == [run]

            # The public outcome record names no target: no URL, no body.
            ours = [r for r in read_topic(settings, "notifications.outcomes") if r.value.notification_id == notification[0]]
            assert len(ours) == 1, [r.as_json() for r in ours]
            [record] = ours
            assert collector.url.split("//")[1] not in str(record.as_json())

            # Read again, as after a crash before the commit: no new row. (The outcome first: the
            # notification read again makes the sink answer too, below.)
            replayed = (replay(settings, "alerts.enriched", lambda v: v.alert.labels.get("run") == run),
                        replay(settings, "notifications.outcomes", lambda v: v.notification_id == notification[0]),
                        replay(settings, "notifications", lambda v: v.id == notification[0]))
            assert replayed == (1, 1, 1)
            # The sink reads the notification again too: its ledger skips it, which is an outcome of its own.
            skipped = (notification[0], 1, "duplicate_skipped", "hook", "webhook/0", "", None)
            wait_until(lambda: skipped in rows(db, run)["delivery_outcomes"], "the sink's duplicate_skipped outcome",
                       pipeline)
            group = settings.topics.prefix + load_topology(settings.topics.topology_file).chain_of("history").consumer_group
            wait_until(lambda: caught_up(settings, group, ["alerts.enriched", "notifications", "notifications.outcomes"]),
                       "the history stage reading the replayed records", pipeline)
            after = rows(db, run)
            assert after["alert_changes"] == found["alert_changes"]
            assert after["notifications"] == found["notifications"]
            assert sorted(after["delivery_outcomes"], key=str) == sorted([outcome, skipped], key=str)
            assert len(collector.at("/hook")) == 1
    finally:
        collector.stop()


def test_without_history_enabled_its_chain_is_not_started_and_refuses_to_run(kafka_bootstrap):
    settings = settings_with_topology(kafka_bootstrap, "nohist")
    assert "history" not in chains_of(settings, sink=True)
    assert "history" in chains_of(settings.model_copy(update={"history": settings.history.model_copy(
        update={"enabled": True})}), sink=True)
    from pipeline.cli import main

    result = CliRunner().invoke(main, ["worker", "history"], env=settings_env(settings))
    assert result.exit_code != 0
    assert "requires history, which is off: set history.enabled (PIPELINE_HISTORY__ENABLED=true)" in result.output


def test_a_worker_refuses_a_database_whose_schema_is_not_current(kafka_bootstrap, postgres_url, tmp_path):
    """Migrations are checked at worker start: the history chain, and the alert chain whose flapping
    stage reads the history, stop before joining their groups, naming the fix."""
    import psycopg
    from psycopg import sql

    from pipeline.cli import main
    from pipeline.settings import WorkerSettings
    from tests.integration.history.conftest import database_dsn

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        settings = settings_with_topology(kafka_bootstrap, "unmigrated")
        settings = settings.model_copy(update={
            "worker": WorkerSettings(data_dir=tmp_path / "state"),
            "history": settings.history.model_copy(update={"enabled": True, "dsn": database_dsn(postgres_url, name)})})
        for chain in ("history", "normalize"):
            result = CliRunner().invoke(main, ["worker", chain], env=settings_env(settings))
            assert result.exit_code == 1, result.output
            assert f"chain {chain!r}: PostgreSQL at" in result.output
            assert "no history schema yet; run `pipeline db migrate`" in result.output
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
