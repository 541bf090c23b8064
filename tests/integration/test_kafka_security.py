"""The whole pipeline through a secured broker: SASL_SSL with SCRAM-SHA-512, and mTLS (issue #13 point
6). A broker of its own (``dev.kafka_secure_listeners``: certificates from the local CA, a SCRAM user)
reached only on its secure listeners: the bridge's producer, the workers' Faust consumers and table
recovery, their confluent-kafka writers, the API view's follower and the sink's retry and DLQ writes all
have to authenticate for an alert to reach the webhook."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from pipeline.devenv.certs import local_ca
from pipeline.devenv.kafka import LocalKafka
from pipeline.devenv.process import free_port
from pipeline.runtime.admin import admin_client, broker_answers
from pipeline.runtime.topics import apply_topology
from pipeline.settings import DevSettings, KafkaSettings, Settings, TopicSettings
from pipeline.topology import load_topology
from tests.integration.pipeline_harness import ONE_GROUP_PER_ALERT, WebhookCollector, running_pipeline


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory):
    base = tmp_path_factory.mktemp("secure-kafka")
    dev = DevSettings(state_dir=base, kafka_port=free_port(), kafka_controller_port=free_port(),
                      kafka_sasl_ssl_port=free_port(), kafka_mtls_port=free_port(), kafka_secure_listeners=True,
                      kafka_heap="512m")
    broker = LocalKafka(dev)
    broker.up()
    try:
        yield broker
    finally:
        broker.down()


def _kafka(broker: LocalKafka, kind: str) -> KafkaSettings:
    ca = local_ca(broker.dev.state_dir)
    if kind == "SASL_SSL":
        return KafkaSettings(bootstrap_servers=broker.sasl_ssl_bootstrap, security_protocol="SASL_SSL",
                             sasl_mechanism="SCRAM-SHA-512", sasl_username="pipeline",
                             sasl_password=broker.scram_password_file.read_text().strip(),
                             ssl_ca_location=ca.cert_file)
    client = ca.issue("pipeline-client", client=True)
    return KafkaSettings(bootstrap_servers=broker.mtls_bootstrap, security_protocol="SSL",
                         ssl_ca_location=ca.cert_file, ssl_certificate_location=client.cert_file,
                         ssl_key_location=client.key_file)


def test_the_secure_listeners_refuse_clients_without_credentials(secure_broker):
    ca = local_ca(secure_broker.dev.state_dir).cert_file
    assert not broker_answers(KafkaSettings(bootstrap_servers=secure_broker.mtls_bootstrap,
                                            security_protocol="SSL", ssl_ca_location=ca), timeout=5)
    wrong = KafkaSettings(bootstrap_servers=secure_broker.sasl_ssl_bootstrap, security_protocol="SASL_SSL",
                          sasl_mechanism="SCRAM-SHA-512", sasl_username="pipeline", sasl_password="wrong",
                          ssl_ca_location=ca)
    assert not broker_answers(wrong, timeout=5)


@pytest.mark.parametrize("kind", ["SASL_SSL", "mTLS"])
def test_an_alert_reaches_the_webhook_through_the_secured_broker(secure_broker, tmp_path, kind):
    kafka = _kafka(secure_broker, kind)
    assert broker_answers(kafka, timeout=10)
    settings = Settings(kafka=kafka, topics=TopicSettings(prefix=f"secure-{uuid.uuid4().hex[:8]}."))
    report = apply_topology(admin_client(settings.kafka), load_topology(settings.topics.topology_file),
                            settings.topics.prefix)
    assert not report.unresolved
    collector = WebhookCollector().start()
    try:
        config = ONE_GROUP_PER_ALERT.replace("URL", collector.url)
        with running_pipeline(settings, tmp_path, config, sink=True) as pipeline:
            pipeline.post_alerts([{"labels": {"alertname": f"Secure{kind}"}}])
            deadline = time.monotonic() + 60
            while not collector.at("/hook"):
                assert time.monotonic() < deadline, f"not delivered through {kind}:\n{pipeline.logs()}"
                pipeline.check_alive()
                time.sleep(0.1)
            # The API view follows alerts.enriched through the same listener.
            deadline = time.monotonic() + 30
            while True:
                alerts = httpx.get(f"{pipeline.url}/api/v2/alerts", timeout=10).json()
                if any(a["labels"]["alertname"] == f"Secure{kind}" for a in alerts):
                    break
                assert time.monotonic() < deadline, f"the API view did not see the alert: {alerts}"
                time.sleep(0.2)
    finally:
        collector.stop()
    [delivery] = collector.at("/hook")
    assert [a["labels"]["alertname"] for a in delivery.body["alerts"]] == [f"Secure{kind}"]
