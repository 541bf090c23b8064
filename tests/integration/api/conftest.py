"""A bridge process with the Alertmanager API view, on a fresh topology, and a writer for alerts.enriched
(the route stage that produces those records is built separately; the record contract is the model)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import yaml
from confluent_kafka import Producer

from pipeline import wire
from pipeline.models import Alert, EnrichedAlert
from pipeline.runtime.producer import durable_config
from tests.integration.bridge_harness import OPEN_SOURCES, running_bridge
from tests.integration.helpers import CREATED_PREFIXES, drop_topics_with_prefixes, settings_with_topology

AM_CONFIG = {
    "global": {"resolve_timeout": "5m"},
    "route": {
        "receiver": "default",
        "group_by": ["alertname"],
        "routes": [
            {"receiver": "team-db", "matchers": ['service="db"'], "group_by": ["alertname", "instance"],
             "continue": True},
            {"receiver": "team-web", "matchers": ['service=~"web|api"']},
        ],
    },
    "receivers": [{"name": "default"}, {"name": "team-db"}, {"name": "team-web"}],
    "inhibit_rules": [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                       "equal": ["service"]}],
}


def write_am_config(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(AM_CONFIG, sort_keys=False))
    return path


class EnrichedWriter:
    def __init__(self, settings) -> None:
        self.settings = settings
        self.producer = Producer(durable_config(settings.kafka, 30.0))
        self.failed: list[str] = []  # delivery errors: flush() returning 0 does not mean delivered

    def _delivered(self, error, _message) -> None:
        if error is not None:
            self.failed.append(str(error))

    def send(self, labels: dict[str, str], *, annotations=None, status="firing", ends_at=None,
             starts_at=None, generator_url="", flush: bool = True) -> EnrichedAlert:
        """Write one record; ``flush=False`` leaves it queued (many writes, then one :meth:`flush`)."""
        now = datetime.now(timezone.utc)
        alert = Alert.with_fingerprint(
            labels=labels, annotations=annotations or {}, starts_at=starts_at or now,
            ends_at=ends_at or (now if status == "resolved" else now + timedelta(minutes=5)),
            status=status, updated_at=now, generator_url=generator_url)
        record = EnrichedAlert(alert=alert, source="test", source_format="direct", received_at=now)
        self.producer.produce(self.settings.topic("alerts.enriched"), key=alert.fingerprint.encode(),
                              value=wire.encode(record), on_delivery=self._delivered)
        if flush:
            self.flush()
        return record

    def flush(self, timeout: float = 60.0) -> None:
        assert self.producer.flush(timeout) == 0
        failed, self.failed = self.failed, []
        assert not failed, f"{len(failed)} records not delivered, e.g. {failed[0]}"


@pytest.fixture(scope="module")
def api_settings(kafka_bootstrap, tmp_path_factory):
    settings = settings_with_topology(kafka_bootstrap, "api")
    # Module-scoped: the topics must outlive the module's first test (tests/conftest.py drops what
    # settings_with_topology registered after every test), so they are dropped here, at the end.
    created = (kafka_bootstrap, settings.topics.prefix)
    CREATED_PREFIXES.remove(created)
    config = write_am_config(tmp_path_factory.mktemp("amconfig"))
    yield settings.model_copy(update={"alertmanager_config": config})
    drop_topics_with_prefixes([created])


@pytest.fixture(scope="module")
def bridge(api_settings, tmp_path_factory):
    with running_bridge(api_settings, OPEN_SOURCES, tmp_path_factory.mktemp("bridge")) as running:
        yield running


@pytest.fixture(scope="module")
def enriched_writer(api_settings):
    return EnrichedWriter(api_settings)


def wait_for(fetch, predicate, timeout: float = 20.0, what: str = ""):
    """Poll ``fetch()`` until ``predicate(value)``; return the value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = fetch()
        if predicate(value):
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: condition not met in {timeout}s; last value: {value!r}")


def get_json(url: str, **params):
    response = httpx.get(url, params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()
