"""The classify worker with the LLM path on, against the real broker, real Redis and a fake model
server: answers cached in Redis survive a worker restart; with Redis down the L1 cache and the rules
still work; a failing model opens the breaker and rule results flow at once; a slow answer does not
hold back other alerts."""

import time
import uuid

from pipeline.devenv.components import Component
from pipeline.devenv.redis import LocalRedis
from pipeline.settings import RedisSettings
from tests.conftest import isolated_dev_settings
from tests.integration.classify.fake_model import FakeModel
from tests.integration.classify.helpers import by_alertname, deduped_event, send_deduped, with_classification
from tests.integration.helpers import SPLIT_TOPOLOGY, settings_with_topology, wait_for_records

RULES = """
classification:
  rules:
    - {name: db, match: ['alertname="PostgresDown"'], priority: P0, team: database}
"""


def llm_settings(kafka_bootstrap, tmp_path, model: FakeModel, redis_url: str, **knobs):
    base = settings_with_topology(kafka_bootstrap, "classify-llm", SPLIT_TOPOLOGY)
    settings = with_classification(
        base, tmp_path, RULES, llm_enabled=True, llm_base_url=model.base_url,
        # A fresh model name per test: the signature covers it, so tests sharing Redis never share answers.
        llm_model=f"fake-{uuid.uuid4().hex[:8]}", **knobs)
    return settings.model_copy(update={"redis": RedisSettings(url=redis_url)})


def classified(settings, worker, count):
    return wait_for_records(settings, "alerts.classified", lambda rs: len(rs) >= count, alive=worker.alive,
                            describe=worker.log_tail, timeout=90)


def test_answer_cached_in_redis_is_reused_after_a_worker_restart(kafka_bootstrap, redis_url, tmp_path):
    with FakeModel() as model:
        settings = llm_settings(kafka_bootstrap, tmp_path, model, redis_url)
        with Component("classify", ["worker", "classify"], settings, tmp_path / "logs1") as worker:
            send_deduped(settings, deduped_event(alertname="DiskPressure", pod="p-1"),
                         deduped_event(alertname="PostgresDown", severity="warning"))
            first = by_alertname(classified(settings, worker, 2))
        assert model.requests == {"DiskPressure": 1}  # the rule decided PostgresDown: no question asked
        c = first["DiskPressure"].classification
        assert (c.classified_by, c.priority, c.category, c.confidence) == ("llm", "P0", "database", 0.9)
        assert c.reason == "llm (model): The database is unreachable."
        assert first["DiskPressure"].alert.labels["priority"] == "P0"
        assert first["DiskPressure"].alert.annotations["llm_action_items"] == "- Fail over"
        assert first["PostgresDown"].classification.classified_by == "rules"

        # A new worker (empty L1) meets the same problem on another pod: Redis answers, not the model.
        with Component("classify", ["worker", "classify"], settings, tmp_path / "logs2") as worker:
            send_deduped(settings, deduped_event(alertname="DiskPressure", pod="p-2"))
            classified(settings, worker, 3)
            time.sleep(2)  # a re-processed record would arrive in this window
        records = classified(settings, worker, 3)
        # Offsets acknowledged by hand were committed: the new worker resumed after them.
        assert len(records) == 3
        assert model.requests == {"DiskPressure": 1}
        again = [r.value for r in records if r.value.alert.labels.get("pod") == "p-2"][0]
        assert again.classification.reason == "llm (l2): The database is unreachable."
        assert again.classification.priority == "P0"


def test_with_redis_down_the_l1_cache_and_the_rules_still_work(kafka_bootstrap, tmp_path):
    own_redis = LocalRedis(isolated_dev_settings(tmp_path / "redis"))  # ours to stop; never the shared one
    own_redis.up()
    try:
        with FakeModel() as model:
            settings = llm_settings(kafka_bootstrap, tmp_path, model, own_redis.url)
            with Component("classify", ["worker", "classify"], settings, tmp_path / "logs") as worker:
                send_deduped(settings, deduped_event(alertname="DiskPressure", pod="p-1"))
                classified(settings, worker, 1)
                assert own_redis.down()
                send_deduped(settings, deduped_event(alertname="DiskPressure", pod="p-2"),
                             deduped_event(alertname="PostgresDown"),
                             deduped_event(alertname="QueueBacklog"))
                records = classified(settings, worker, 4)
        by_pod = {r.value.alert.labels.get("pod"): r.value for r in records}
        assert by_pod["p-2"].classification.reason == "llm (l1): The database is unreachable."
        alerts = by_alertname(records[1:])
        assert alerts["PostgresDown"].classification.priority == "P0"
        assert alerts["PostgresDown"].classification.classified_by == "rules"
        # A new signature still reaches the model: Redis being down only costs the shared cache.
        assert alerts["QueueBacklog"].classification.classified_by == "llm"
        assert model.requests == {"DiskPressure": 1, "QueueBacklog": 1}
    finally:
        own_redis.down()


def test_failing_model_opens_the_breaker_and_rule_results_flow_without_waiting(kafka_bootstrap, redis_url, tmp_path):
    with FakeModel(failing=True) as model:
        settings = llm_settings(kafka_bootstrap, tmp_path, model, redis_url, llm_retries=0, llm_timeout_s=2.0,
                                llm_breaker_reset_s=600, max_in_flight=1)
        with Component("classify", ["worker", "classify"], settings, tmp_path / "logs") as worker:
            send_deduped(settings, *(deduped_event(alertname=f"Broken{i}", severity="warning") for i in range(5)))
            classified(settings, worker, 5)
            sent = [deduped_event(alertname=f"Later{i}", severity="warning") for i in range(5)]
            send_deduped(settings, *sent)
            records = classified(settings, worker, 10)
    assert sum(model.requests.values()) == 5  # five failures, then no more calls
    for record in records:
        c = record.value.classification
        assert (c.classified_by, c.priority) == ("rules", "P2")
    later = [r for r in records if r.value.alert.labels["alertname"].startswith("Later")]
    assert {r.value.classification.reason for r in later} == {
        "severity=warning; llm not used: circuit breaker open after 5 consecutive failures"}
    assert all("HTTP 500" in r.value.classification.reason for r in records
               if r.value.alert.labels["alertname"].startswith("Broken"))
    # With the breaker open an alert costs no model latency: written within well under the timeout.
    received = {e.alert.fingerprint: e.received_at.timestamp() * 1000 for e in sent}
    assert max(r.timestamp_ms - received[r.key] for r in later) < 1500


def test_a_slow_model_answer_does_not_hold_back_other_alerts(kafka_bootstrap, redis_url, tmp_path):
    with FakeModel(slow_s=4.0) as model:
        settings = llm_settings(kafka_bootstrap, tmp_path, model, redis_url, llm_timeout_s=8.0)
        with Component("classify", ["worker", "classify"], settings, tmp_path / "logs") as worker:
            send_deduped(settings, deduped_event(alertname="PostgresDown"))  # warm-up: worker is consuming
            classified(settings, worker, 1)
            send_deduped(settings, deduped_event(alertname="SlowQuery"),
                         *(deduped_event(alertname=f"Fast{i}") for i in range(5)))
            records = classified(settings, worker, 7)
    alerts = {r.value.alert.labels["alertname"]: r for r in records}
    slow = alerts["SlowQuery"]
    assert slow.value.classification.classified_by == "llm"  # it did answer, within its timeout
    fast = [alerts[f"Fast{i}"] for i in range(5)]
    assert all(f.value.classification.classified_by == "llm" for f in fast)
    # Sent after the slow one, written seconds before it.
    assert max(f.timestamp_ms for f in fast) + 2500 < slow.timestamp_ms
    assert model.requests["SlowQuery"] == 1
