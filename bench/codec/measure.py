"""One tree's codec figures, as JSON on stdout (run by ``python -m bench.codec``, one process per tree).

    python bench/codec/measure.py --root TREE [--iterations N] [--repeat R] [--alerts N] [--variants]

Imports ``pipeline`` from TREE (the checkout, or the commit before the msgspec records, unpacked by
``python -m bench.codec``), so it only uses what both have: the record constructors,
``Alert.with_fingerprint``, ``pipeline.models.replace`` and ``pipeline.wire.encode / decode /
encode_avro``.

- hop: what a stage pays per record: decode the bytes, replace one field, encode;
- encode / decode alone, JSON and Avro, and the sizes;
- memory per record held in the process (tracemalloc over ``--alerts`` distinct records decoded
  from bytes, as the API view, dedup and group state hold them), and the objects the garbage
  collector tracks per record and the time of one full collection with them held;
- ``--variants`` (msgspec trees only): the same for the Struct options frozen, gc and omit_defaults,
  and the cost of the options for the wire-contract points of docs/wire-format.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path


def load(root: Path):
    sys.path.insert(0, str(root))
    from pipeline import models, wire

    assert Path(models.__file__).resolve().is_relative_to(root.resolve()), models.__file__
    return models, wire


T0 = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)
ALERTNAMES = ["HighRequestLatency", "ErrorBudgetBurn", "PodCrashLooping", "DiskWillFillIn4h", "TargetDown"]
SERVICES = ["checkout", "cart", "payments-gateway", "search"]
GROUP_KEY = '{}/{team="payments"}:{alertname="HighRequestLatency", cluster="prod-eu-west-1"}'


class Records:
    """Realistic records: 8 labels, 3 annotations, a classification, 2 links, 1 route."""

    def __init__(self, models):
        self.m = models

    def alert(self, i: int):
        m = self.m
        service = SERVICES[i % len(SERVICES)]
        instance = f"{service}-{i % 7}.eu-west-1.internal:{9100 + i}"
        return m.Alert.with_fingerprint(
            labels={
                "alertname": ALERTNAMES[i % len(ALERTNAMES)], "cluster": "prod-eu-west-1",
                "env": "production", "instance": instance, "job": f"{service}-api",
                "namespace": "payments", "service": service,
                "severity": "critical" if i % 3 else "warning",
            },
            annotations={
                "summary": f"p99 latency of {service} on {instance} above 2s",
                "description": "The 99th percentile request latency has been above 2 seconds "
                "for 10 minutes; customers see slow checkouts.",
                "runbook_url": "https://runbooks.example.com/payments/high-latency",
            },
            starts_at=T0 + timedelta(seconds=i, microseconds=137),
            ends_at=None,
            generator_url="http://prometheus-0.monitoring:9090/graph?g0.expr=histogram_quantile"
            "%280.99%2C+rate%28http_request_duration_seconds_bucket%5B5m%5D%29%29+%3E+2",
            status="firing",
            updated_at=T0 + timedelta(seconds=i, milliseconds=500),
        )

    def event(self, i: int):
        alert = self.alert(i)
        return self.m.AlertEvent(alert=alert, source="prometheus-prod-eu-west-1",
                                 source_format="alertmanager-v2", received_at=alert.updated_at, change="new")

    def enriched(self, i: int):
        m = self.m
        alert = self.alert(i)
        return m.EnrichedAlert(
            alert=alert, source="prometheus-prod-eu-west-1", source_format="alertmanager-v2",
            received_at=alert.updated_at, change="new",
            classification=m.Classification(
                priority="P1", category="latency", team="payments", tags=["customer-facing", "slo-breach"],
                auto_incident=True, classified_by="rules", confidence=None,
                reason="rule payments-latency-critical",
            ),
            links=[
                m.Link(title="Dashboard", url="https://grafana.example.com/d/checkout-latency"),
                m.Link(title="Runbook", url="https://runbooks.example.com/payments/high-latency"),
            ],
            routes=[m.RouteMatch(receiver="payments-pagerduty", route_key='{}/{team="payments"}',
                                 group_key=GROUP_KEY,
                                 group_labels={"alertname": "HighRequestLatency", "cluster": "prod-eu-west-1"})],
            state="active",
        )

    def notification(self, i: int):
        m = self.m
        group_key = '{}/{team="payments"}:{alertname="HighRequestLatency"}'
        return m.Notification(
            id=m.notification_id(group_key, "payments-pagerduty", i), receiver="payments-pagerduty",
            status="firing", group_key=group_key, group_labels={"alertname": "HighRequestLatency"},
            common_labels={"alertname": "HighRequestLatency", "env": "production", "job": "checkout-api"},
            common_annotations={"runbook_url": "https://runbooks.example.com/payments/high-latency"},
            external_url="https://alerts.example.com", truncated_alerts=0,
            alerts=[self.alert(i * 10 + n) for n in range(10)], flush_seq=i,
            created_at=T0 + timedelta(minutes=i, microseconds=11), route_key='{}/{team="payments"}',
        )


def best_us(operation: Callable[[], object], iterations: int, repeat: int) -> float:
    """CPU µs per call: the best of ``repeat`` runs of ``iterations`` calls, the GC off (as timeit
    does).  Process CPU time, not wall time: on a shared machine a run that is preempted does not
    count the time other processes ran, and the best of many short runs is one where caches were
    ours."""
    operation()
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(max(1, iterations // 4)):  # warm-up
            operation()
        for _ in range(repeat):
            start = time.process_time()
            for _ in range(iterations):
                operation()
            best = min(best, time.process_time() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return 1e6 * best / iterations


def held(decode: Callable[[bytes], object], values: list[bytes]) -> dict[str, float]:
    """Bytes and GC-tracked objects per record held, and one full collection's time, for records
    decoded from ``values``."""
    gc.collect()
    tracked_before = len(gc.get_objects())
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [decode(value) for value in values]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    tracked = len(gc.get_objects()) - tracked_before
    collections = []
    for _ in range(5):
        start = time.process_time()
        gc.collect()
        collections.append(time.process_time() - start)
    n = len(kept)
    del kept
    return {"bytes_per_record": (after - before) / n, "gc_objects_per_record": tracked / n,
            "full_collection_ms": 1e3 * min(collections)}


def measure_tree(models, wire, iterations: int, repeat: int, alerts: int) -> dict:
    records = Records(models)
    replace = models.replace
    out: dict = {}
    cases = {
        "AlertEvent": (records.event, lambda r: replace(r, change="updated")),
        "EnrichedAlert": (records.enriched, lambda r: replace(r, state="suppressed")),
        "Notification (10 alerts)": (records.notification, lambda r: replace(r, route_key="{}")),
    }
    for name, (make, change) in cases.items():
        record = make(0)
        cls = type(record)
        data = wire.encode(record)
        avro_data = wire.encode_avro(record)
        decode = wire.decode
        encode = wire.encode
        out[name] = {
            "hop_us": best_us(lambda: encode(change(decode(cls, data))), iterations, repeat),
            "replace_us": best_us(lambda: change(record), iterations, repeat),
            "json_encode_us": best_us(lambda: encode(record), iterations, repeat),
            "json_decode_us": best_us(lambda: decode(cls, data), iterations, repeat),
            "avro_encode_us": best_us(lambda: wire.encode_avro(record), max(1, iterations // 4), repeat),
            "avro_decode_us": best_us(lambda: decode(cls, avro_data), max(1, iterations // 4), repeat),
            "json_bytes": len(data),
            "avro_bytes": len(avro_data),
            "json_gzip_batch_bytes": len(zlib.compress(b"".join(encode(make(i)) for i in range(100)), 6)) / 100,
            "avro_gzip_batch_bytes": len(zlib.compress(b"".join(wire.encode_avro(make(i)) for i in range(100)),
                                                       6)) / 100,
        }
    held_alerts = [wire.encode(records.alert(i)) for i in range(alerts)]
    held_enriched = [wire.encode(records.enriched(i)) for i in range(alerts)]
    out["held"] = {
        "alerts": alerts,
        "Alert": held(lambda v: wire.decode(models.Alert, v), held_alerts),
        "EnrichedAlert": held(lambda v: wire.decode(models.EnrichedAlert, v), held_enriched),
        "EnrichedAlert JSON bytes": sum(map(len, held_enriched)) / alerts,
    }
    return out


# --- msgspec Struct options ------------------------------------------------------------------------

VARIANTS = {
    # name: (frozen, gc, omit_defaults)
    "frozen, gc=False (shipped)": (True, False, False),
    "msgspec defaults (mutable, gc tracked)": (False, True, False),
    "frozen, gc tracked": (True, True, False),
    "mutable, gc=False": (False, False, False),
    "frozen, gc=False, omit_defaults": (True, False, True),
}


def variant_family(models, frozen: bool, gc_: bool, omit_defaults: bool) -> dict[type, type]:
    """pipeline.models' Structs rebuilt with other options (same fields, types and defaults)."""
    import typing

    import msgspec

    mapping: dict[type, type] = {}

    def subst(tp):
        if isinstance(tp, type) and tp in mapping:
            return mapping[tp]
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            return typing.Annotated[(subst(args[0]), *args[1:])]
        if origin in (typing.Union, __import__("types").UnionType):
            return typing.Union[tuple(subst(arg) for arg in args)]
        if origin is list:
            return list[subst(args[0])]
        if origin is dict:
            return dict[subst(args[0]), subst(args[1])]
        return tp

    for cls in (models.Alert, models.Classification, models.Link, models.RouteMatch, models.AlertEvent,
                models.EnrichedAlert):
        fields = []
        for info in msgspec.structs.fields(cls):
            if info.required:
                fields.append((info.name, subst(info.type)))
            elif info.default_factory is not msgspec.NODEFAULT:
                fields.append((info.name, subst(info.type), msgspec.field(default_factory=info.default_factory)))
            else:
                fields.append((info.name, subst(info.type), info.default))
        mapping[cls] = msgspec.defstruct(cls.__name__, fields, kw_only=True, frozen=frozen, gc=gc_,
                                         omit_defaults=omit_defaults)
    return mapping


def measure_variants(models, wire, iterations: int, repeat: int, alerts: int) -> dict:
    import msgspec

    records = Records(models)
    encoder = msgspec.json.Encoder()
    out = {}
    full = records.enriched(0)
    # An alert as the classify stage writes it: routes, links and muting still at their defaults.
    early = models.replace(full, links=[], routes=[], state="unprocessed")
    for name, options in VARIANTS.items():
        family = variant_family(models, *options)
        cls = family[models.EnrichedAlert]
        decoder = msgspec.json.Decoder(cls)
        row = {}
        for label, record in (("enriched", full), ("classified", early)):
            data = encoder.encode(decoder.decode(wire.encode(record)))
            row[f"{label}_hop_us"] = best_us(
                lambda: encoder.encode(msgspec.structs.replace(decoder.decode(data), state="suppressed")),
                iterations, repeat)
            row[f"{label}_json_bytes"] = len(data)
        batch = b"".join(encoder.encode(decoder.decode(wire.encode(
            models.replace(records.enriched(i), links=[], routes=[], state="unprocessed")))) for i in range(100))
        row["classified_gzip_batch_bytes"] = len(zlib.compress(batch, 6)) / 100
        values = [encoder.encode(decoder.decode(wire.encode(records.enriched(i)))) for i in range(alerts)]
        row["held"] = held(decoder.decode, values)
        out[name] = row
    return out


# --- the wire-contract options of docs/wire-format.md ---------------------------------------------

def measure_contract_options(models, wire, iterations: int, repeat: int) -> dict:
    """What each option for the two timestamp points would cost per record (msgspec trees).

    (a) zero fractions: msgspec writes 12:00:00Z; keeping the promised ".000000" needs a Python look
        at every timestamp on every encode, and a slower encode (via builtins) when one is whole.
    (b) offsets: converting on every decode (what the pydantic records did) needs a Python look at
        every timestamp after every decode; converting at the edge looks once, at alerts.raw.
    """
    import msgspec

    from pipeline.ingest.normalize import raw_in_utc

    records = Records(models)
    encoder = msgspec.json.Encoder()
    utc = timezone.utc

    def enriched_times(r):
        a = r.alert
        return (r.received_at, a.starts_at, a.ends_at, a.updated_at)

    def notification_times(r):
        return (r.created_at, *(t for a in r.alerts for t in (a.starts_at, a.ends_at, a.updated_at)))

    def six_digits(value: dict, paths) -> dict:
        for path in paths:
            node = value
            for key in path[:-1]:
                node = node[key]
            text = node[path[-1]]
            if text is not None and len(text) == 20:  # 2024-05-01T12:00:00Z
                node[path[-1]] = text[:-1] + ".000000Z"
        return value

    enriched_paths = [("received_at",), ("alert", "starts_at"), ("alert", "ends_at"), ("alert", "updated_at")]

    def encode_keeping_six_digits(record, times, paths):
        if all(t is None or t.microsecond for t in times(record)):
            return encoder.encode(record)
        return encoder.encode(six_digits(msgspec.to_builtins(record), paths(record)))

    def notification_paths(r):
        return [("created_at",)] + [("alerts", i, name) for i in range(len(r.alerts))
                                    for name in ("starts_at", "ends_at", "updated_at")]

    enriched = records.enriched(0)
    whole = models.replace(enriched, received_at=T0.replace(microsecond=0))
    notification = records.notification(0)
    raw = models.RawAlert(labels=enriched.alert.labels, annotations=enriched.alert.annotations,
                          starts_at=enriched.alert.starts_at, source="p", source_format="direct",
                          received_at=enriched.received_at)
    cest = timezone(timedelta(hours=2))
    raw_offset = models.replace(raw, starts_at=raw.starts_at.astimezone(cest),
                                received_at=raw.received_at.astimezone(cest))
    def not_utc(times) -> bool:
        return any(t is not None and t.tzinfo is not utc for t in times)

    run = dict(iterations=iterations, repeat=repeat)
    return {
        "(a) encode EnrichedAlert as msgspec writes it": best_us(lambda: encoder.encode(enriched), **run),
        "(a) six digits kept: the look at an EnrichedAlert's 4 timestamps, per encode": best_us(
            lambda: all(t is None or t.microsecond for t in enriched_times(enriched)), **run),
        "(a) six digits kept: encode an EnrichedAlert with a whole second (via builtins)": best_us(
            lambda: encode_keeping_six_digits(whole, enriched_times, lambda _r: enriched_paths), **run),
        "(a) encode a Notification of 10 as msgspec writes it": best_us(lambda: encoder.encode(notification), **run),
        "(a) six digits kept: the look at a Notification's 31 timestamps, per encode": best_us(
            lambda: all(t is None or t.microsecond for t in notification_times(notification)), **run),
        "(b) UTC on every decode: the look at an EnrichedAlert's 4 timestamps, per decode": best_us(
            lambda: not_utc(enriched_times(enriched)), **run),
        "(b) UTC on every decode: the look at a Notification's 31 timestamps, per decode": best_us(
            lambda: not_utc(notification_times(notification)), **run),
        "(b) UTC at the edge: raw_in_utc of a RawAlert in UTC, once per alert": best_us(
            lambda: raw_in_utc(raw), **run),
        "(b) UTC at the edge: raw_in_utc of a RawAlert written with +02:00": best_us(
            lambda: raw_in_utc(raw_offset), **run),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--iterations", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--variants", action="store_true")
    args = parser.parse_args()
    models, wire = load(args.root)
    result = {"tree": str(args.root),
              "figures": measure_tree(models, wire, args.iterations, args.repeat, args.alerts)}
    if args.variants:
        result["variants"] = measure_variants(models, wire, args.iterations, args.repeat, args.alerts)
        result["contract"] = measure_contract_options(models, wire, args.iterations, args.repeat)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
