"""How the NATS source reads one message: records of its valid alerts, a dead letter with the reason
for anything refused (no server needed: messages are stand-ins with JetStream's metadata)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import orjson

from pipeline import wire
from pipeline.dead_letters import header_dict
from pipeline.models import RawAlert
from pipeline.sources.base import SourceContext
from pipeline.sources.model import Source
from pipeline.sources.nats import NatsSource

STORED = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


@dataclass
class Message:
    data: bytes
    subject: str = "alerts.eu"
    headers: dict[str, str] | None = None
    metadata: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(
        stream="ALERTS", sequence=SimpleNamespace(stream=42, consumer=7), num_delivered=1, num_pending=0,
        timestamp=STORED))


def source(**overrides) -> NatsSource:
    declared = Source.model_validate({"name": "bus", "kind": "stream", "type": "nats", "labels": {"region": "eu"},
                                      "nats": {"stream": "ALERTS", "subject": "alerts.>"}, **overrides})
    return NatsSource(declared, writer=None, context=SourceContext(timedelta(minutes=5), 262144))


def read(nats: NatsSource, data: bytes, **message):
    msg = Message(data, **message)
    return nats.read(msg, msg.metadata)


def test_received_at_is_the_jetstream_timestamp_so_a_redelivery_gives_the_same_bytes():
    nats = source()
    body = orjson.dumps([{"labels": {"alertname": "A"}}])
    first = read(nats, body)
    again = read(nats, body)
    assert first == again and first[2] is None
    alert = wire.decode(RawAlert, first[1][0])
    assert alert.received_at == STORED and alert.labels == {"alertname": "A", "region": "eu"}
    assert alert.source == "bus"


def test_bad_messages_become_dead_letters_with_the_reason_and_the_original_bytes():
    nats = source()
    for data, error_class, words in [
        (b"\xff not json", "JSONDecodeError", "message is not valid JSON"),
        (orjson.dumps({"a": 1}), "PayloadError", "expected a JSON array of alerts"),
        (orjson.dumps([{"labels": {}}]), "InvalidAlert", "at least one label pair required"),
    ]:
        keys, values, letter = read(nats, data, headers={"Nats-Msg-Id": "m1"})
        assert keys == values == [] and letter.value == data and letter.key is None
        headers = header_dict(list(letter.headers))
        assert headers["__connect.errors.exception.class.name"] == error_class
        assert words in headers["__connect.errors.exception.message"], headers
        assert headers["__connect.errors.topic"] == "nats:ALERTS:alerts.eu"
        assert headers["__connect.errors.offset"] == "42" and headers["Nats-Msg-Id"] == "m1"


def test_limits_apply_per_message():
    nats = source(limits={"max_body_bytes": 100, "max_alerts": 2})
    _, _, letter = read(nats, b"[" + b" " * 200 + b"]")
    assert header_dict(list(letter.headers))["__connect.errors.exception.class.name"] == "PayloadTooLarge"
    _, _, letter = read(nats, orjson.dumps([{"labels": {"a": str(i)}} for i in range(3)]))
    assert "3 alerts in one message" in header_dict(list(letter.headers))["__connect.errors.exception.message"]


def test_a_partly_valid_message_stores_the_valid_alerts_and_dead_letters_the_rest():
    nats = source()
    keys, values, letter = read(nats, orjson.dumps([{"labels": {"alertname": "Ok"}}, {"labels": {"0": "x"}}]))
    assert len(values) == 1
    headers = header_dict(list(letter.headers))
    assert headers["pipeline.errors.accepted"] == "1"
    assert headers["__connect.errors.exception.message"].startswith("1 of 2 alerts invalid (the other 1 were stored)")


def test_connect_options_carry_credentials_only_where_asked():
    nats = source(nats={"stream": "ALERTS", "subject": "a", "auth": {"type": "token", "token": "tok-value"}})
    options = nats.connect_options()
    assert options["token"] == "tok-value" and "user" not in options and options["max_reconnect_attempts"] == -1
    assert "tok-value" not in repr(nats.source)
