"""Benchmark: what a stage pays per record, JSON (shipped) against Avro.

    python bench/codec.py [--iterations 20000] [--repeat 3] [--variants]

For a realistic EnrichedAlert and a Notification of 10 alerts, measures
model -> bytes -> model, as a stage does it:

    json    pipeline.wire.encode / pipeline.wire.decode (what is on the wire)
    avro    pipeline.wire.encode_avro / pipeline.wire.decode of Avro bytes

Each operation runs ``iterations`` times per repeat with the GC off (as
timeit does); the best repeat is reported.  "gzip batch" is the size per
record of 100 distinct records compressed together, closer to what a
compressed Kafka batch costs than the raw size.  The per-alert budget uses
the EnrichedAlert: every one of the 7 stage hops decodes and encodes once.

``--variants`` also measures the other ways of doing JSON with pydantic,
which is how the shipped ones were chosen.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

# Runnable as a plain script from a checkout, without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fastavro  # noqa: E402
import orjson  # noqa: E402
import pydantic  # noqa: E402

from pipeline import models, wire  # noqa: E402

HOPS = 7
TARGET_ALERTS_PER_S = 10_000

T0 = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)


ALERTNAMES = [
    "HighRequestLatency",
    "ErrorBudgetBurn",
    "PodCrashLooping",
    "DiskWillFillIn4h",
    "TargetDown",
]
SERVICES = ["checkout", "cart", "payments-gateway", "search"]


def realistic_alert(i: int) -> models.Alert:
    service = SERVICES[i % len(SERVICES)]
    instance = f"{service}-{i % 7}.eu-west-1.internal:9100"
    return models.Alert.with_fingerprint(
        labels={
            "alertname": ALERTNAMES[i % len(ALERTNAMES)],
            "cluster": "prod-eu-west-1",
            "env": "production",
            "instance": instance,
            "job": f"{service}-api",
            "namespace": "payments",
            "service": service,
            "severity": "critical" if i % 3 else "warning",
        },
        annotations={
            "summary": f"p99 latency of {service} on {instance} above 2s",
            "description": "The 99th percentile request latency has been above 2 seconds "
            "for 10 minutes; customers see slow checkouts.",
            "runbook_url": "https://runbooks.example.com/payments/high-latency",
        },
        starts_at=T0 + timedelta(seconds=i),
        ends_at=None,
        generator_url="http://prometheus-0.monitoring:9090/graph?g0.expr=histogram_quantile"
        "%280.99%2C+rate%28http_request_duration_seconds_bucket%5B5m%5D%29%29+%3E+2",
        status="firing",
        updated_at=T0 + timedelta(seconds=i, milliseconds=500),
    )


def realistic_enriched_alert(i: int) -> models.EnrichedAlert:
    alert = realistic_alert(i)
    group_key = '{}/{team="payments"}:{alertname="HighRequestLatency", cluster="prod-eu-west-1"}'
    return models.EnrichedAlert(
        alert=alert,
        source="prometheus-prod-eu-west-1",
        source_format="alertmanager-v2",
        received_at=alert.updated_at,
        change="new",
        classification=models.Classification(
            priority="P1",
            category="latency",
            team="payments",
            tags=["customer-facing", "slo-breach"],
            auto_incident=True,
            classified_by="rules",
            confidence=None,
            reason="rule payments-latency-critical",
        ),
        links=[
            models.Link(title="Dashboard", url="https://grafana.example.com/d/checkout-latency"),
            models.Link(title="Runbook", url="https://runbooks.example.com/payments/high-latency"),
        ],
        routes=[
            models.RouteMatch(
                receiver="payments-pagerduty",
                route_key='{}/{team="payments"}',
                group_key=group_key,
                group_labels={"alertname": "HighRequestLatency", "cluster": "prod-eu-west-1"},
            )
        ],
        state="active",
    )


def realistic_notification(i: int) -> models.Notification:
    alerts = [realistic_alert(i * 10 + n) for n in range(10)]
    group_key = '{}/{team="payments"}:{alertname="HighRequestLatency"}'
    return models.Notification(
        id=models.notification_id(group_key, "payments-pagerduty", i),
        receiver="payments-pagerduty",
        status="firing",
        group_key=group_key,
        group_labels={"alertname": "HighRequestLatency"},
        common_labels={
            "alertname": "HighRequestLatency",
            "env": "production",
            "job": "checkout-api",
        },
        common_annotations={"runbook_url": "https://runbooks.example.com/payments/high-latency"},
        external_url="https://alerts.example.com",
        truncated_alerts=0,
        alerts=alerts,
        flush_seq=i,
        created_at=T0 + timedelta(minutes=i),
        route_key='{}/{team="payments"}',
    )


def best_ops_per_second(operation: Callable[[], object], iterations: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(iterations):
                operation()
            best = min(best, time.perf_counter() - start)
        finally:
            if gc_was_enabled:
                gc.enable()
    return iterations / best


def formats(model: models.WireRecord) -> dict[str, tuple[Callable, Callable]]:
    """name -> (encode() -> bytes, decode(bytes) -> model), the shipped functions."""
    cls = type(model)
    return {
        "json": (lambda: wire.encode(model), lambda data: wire.decode(cls, data)),
        "avro": (lambda: wire.encode_avro(model), lambda data: wire.decode(cls, data)),
    }


def variants(model: models.WireRecord) -> dict[str, tuple[Callable, Callable]]:
    """Ways of doing JSON with pydantic: (encode, decode) pairs, shipped one first."""
    cls = type(model)
    serializer = cls.__pydantic_serializer__
    return {
        "to_json(warnings=error) / validate_json(strict, extra=ignore): shipped": (
            lambda: serializer.to_json(model, warnings="error"),
            lambda data: cls.model_validate_json(data, strict=True, extra="ignore"),
        ),
        "model_dump_json().encode() / validate_json (lax, extra=forbid)": (
            lambda: model.model_dump_json().encode(),
            lambda data: cls.model_validate_json(data),
        ),
        "orjson.dumps(model_dump(mode=json)) / model_validate(orjson.loads)": (
            lambda: orjson.dumps(model.model_dump(mode="json")),
            lambda data: cls.model_validate(orjson.loads(data), extra="ignore"),
        ),
    }


def gzip_batch_bytes(make: Callable[[int], models.WireRecord], name: str) -> float:
    records = [formats(make(i))[name][0]() for i in range(100)]
    return len(zlib.compress(b"".join(records), 6)) / len(records)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"fastavro {fastavro.__version__}, orjson {orjson.__version__}, pydantic {pydantic.VERSION}"
    )


def measure(encode: Callable, decode: Callable, iterations: int, repeat: int):
    data = encode()
    assert decode(data) is not None
    for operation in (encode, lambda: decode(data)):  # warm up: the first ~second runs slow
        best_ops_per_second(operation, iterations // 2 + 1, 1)
    encode_rate = best_ops_per_second(encode, iterations, repeat)
    decode_rate = best_ops_per_second(lambda: decode(data), iterations, repeat)
    return encode_rate, decode_rate, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", action="store_true", help="also compare JSON variants")
    args = parser.parse_args()
    run = dict(iterations=args.iterations, repeat=args.repeat)

    print(f"{datetime.now(timezone.utc):%Y-%m-%d}, {machine()}")
    print(f"{args.iterations} iterations x best of {args.repeat}\n")
    print(
        "| record | format | encode ops/s | encode µs | decode ops/s | decode µs "
        "| encode+decode µs | bytes | gzip batch bytes |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    cases = [
        ("EnrichedAlert", realistic_enriched_alert),
        ("Notification (10 alerts)", realistic_notification),
    ]
    hop_us = {}
    for label, make in cases:
        for name, (encode, decode) in formats(make(0)).items():
            encode_rate, decode_rate, data = measure(encode, decode, **run)
            both = 1e6 / encode_rate + 1e6 / decode_rate
            if label == "EnrichedAlert":
                hop_us[name] = both
            print(
                f"| {label} | {name} | {encode_rate:,.0f} | {1e6 / encode_rate:.1f} "
                f"| {decode_rate:,.0f} | {1e6 / decode_rate:.1f} | {both:.1f} | {len(data)} "
                f"| {gzip_batch_bytes(make, name):.0f} |",
                flush=True,
            )
    cores = os.cpu_count() or 1
    print(f"\nPer alert, {HOPS} hops x (decode + encode) of an EnrichedAlert, codec only:\n")
    print(f"| format | µs per alert | alerts/s per core | alerts/s on {cores} cores |")
    print("|---|---:|---:|---:|")
    for name, us in hop_us.items():
        per_core = 1e6 / (HOPS * us)
        print(f"| {name} | {HOPS * us:.0f} | {per_core:,.0f} | {cores * per_core:,.0f} |")
    print(f"\n(target: {TARGET_ALERTS_PER_S:,} alerts/s, before Kafka client and stage logic)")

    if args.variants:
        print("\n| record | JSON variant (encode / decode) | encode ops/s | decode ops/s |")
        print("|---|---|---:|---:|")
        for label, make in cases:
            for name, (encode, decode) in variants(make(0)).items():
                encode_rate, decode_rate, _ = measure(encode, decode, **run)
                print(f"| {label} | {name} | {encode_rate:,.0f} | {decode_rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
