"""Benchmark (not a test): throughput of the classify stage, alerts/s.

    python -m bench.classify [--alerts 10000] [--signatures 200]

Against the broker of KAFKA_BOOTSTRAP_SERVERS and the Redis of REDIS_URL (the local dev services by
default), on a fresh topic prefix each run. A backlog of ``--alerts`` deduped alerts is written first,
then one classify worker is started and the rate is taken from the Kafka timestamps of its output:
(records - 1) / (last - first), so worker start-up and group join are not counted.

    rules       the shipped example classification file, LLM disabled
    llm-l1      LLM enabled, every signature answered once before (warm-up batch, same worker): L1 hits
    llm-l2      LLM enabled, a new worker whose L1 is empty but Redis holds every answer: L2 hits

The model is a local fake server (tests/integration/classify/fake_model.py); with a warm cache it is
never called, which the run checks. In-process, the same alerts through AlertClassifier without Kafka
give the CPU cost per alert.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer

from pipeline import wire
from pipeline.classification.config import load_classification_file
from pipeline.devenv.components import Component
from pipeline.runtime.producer import durable_config
from pipeline.settings import ClassificationSettings, KafkaSettings, RedisSettings, Settings, TopicSettings, WorkerSettings
from pipeline.stages.classify import AlertClassifier
from pipeline.runtime.reader import wait_for_records
from tests.integration.classify.fake_model import FakeModel
from tests.integration.classify.helpers import deduped_event
from tests.integration.helpers import CREATED_PREFIXES, drop_topics_with_prefixes, settings_with_topology

NAMES = ["DiskPressure", "HighLatency", "PostgresDown", "NodeNotReady", "QueueBacklog", "CertificateExpiry",
         "Http5xxRate", "MemoryPressure"]


def alerts(count: int, signatures: int, offset: int = 0):
    for i in range(count):
        s = (i + offset) % signatures
        yield deduped_event(alertname=NAMES[s % len(NAMES)], service=f"svc-{s}", severity="warning",
                            namespace="prod", pod=f"pod-{i + offset}", instance=f"10.0.{i % 250}.{i % 200}:9100")


def produce(settings: Settings, events) -> int:
    producer = Producer({**durable_config(settings.kafka, 30), "linger.ms": 20})
    n = 0
    for event in events:
        producer.produce(settings.topic("alerts.deduped"), key=event.alert.fingerprint.encode(), value=wire.encode(event))
        n += 1
        if n % 5000 == 0:
            producer.flush(30)
    assert producer.flush(30) == 0
    return n


def rate(records, count: int) -> tuple[float, float]:
    stamps = sorted(r.timestamp_ms for r in records[-count:])
    seconds = (stamps[-1] - stamps[0]) / 1000
    return (len(stamps) - 1) / seconds if seconds else float("inf"), seconds


def run_worker(settings: Settings, expect: int, logs: Path) -> list:
    with Component("classify", ["worker", "classify"], settings, logs) as worker:
        return wait_for_records(settings, "alerts.classified", lambda rs: len(rs) >= expect, timeout=600,
                                alive=worker.alive, describe=worker.log_tail)


def in_process(settings: Settings, count: int, signatures: int, llm: bool, model: FakeModel | None) -> float:
    rules = load_classification_file(settings.classification.rules_file)

    async def go() -> float:
        classifier = AlertClassifier.from_settings(settings, rules)
        values = [wire.encode(e) for e in alerts(count, signatures)]
        if llm:
            for value in values[:signatures]:
                await classifier.process(value)  # warm L1
        started = time.perf_counter()
        for value in values:
            await classifier.process(value)
        elapsed = time.perf_counter() - started
        await classifier.close()
        return count / elapsed

    return asyncio.run(go())


def main() -> int:
    try:
        return measure()
    finally:
        # The shared broker runs out of heap if every run leaves its ~20 topics behind.
        drop_topics_with_prefixes(CREATED_PREFIXES)


def measure() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=10000)
    parser.add_argument("--signatures", type=int, default=200)
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:16379/0")
    work = Path(tempfile.mkdtemp(prefix="bench-classify-"))
    print(f"# classify stage, {args.alerts} alerts, {args.signatures} signatures, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    results = []

    settings = settings_with_topology(bootstrap, "bench-classify")
    settings = settings.model_copy(update={"worker": WorkerSettings(data_dir=work / "rules")})
    produce(settings, alerts(args.alerts, args.signatures))
    records = run_worker(settings, args.alerts, work / "logs-rules")
    results.append(("rules", *rate(records, args.alerts)))
    results.append(("rules, in-process (no Kafka)", in_process(settings, args.alerts, args.signatures, False, None), 0))

    with FakeModel() as model:
        llm = ClassificationSettings(llm_enabled=True, llm_base_url=model.base_url,
                                     llm_model=f"bench-{uuid.uuid4().hex[:8]}")
        settings = settings_with_topology(bootstrap, "bench-classify")
        settings = settings.model_copy(update={"classification": llm, "redis": RedisSettings(url=redis_url),
                                               "worker": WorkerSettings(data_dir=work / "llm")})
        # Warm-up batch: one alert per signature, answered by the model and cached in L1 and Redis.
        produce(settings, alerts(args.signatures, args.signatures))
        with Component("classify", ["worker", "classify"], settings, work / "logs-llm-l1") as worker:
            wait_for_records(settings, "alerts.classified", lambda rs: len(rs) >= args.signatures, timeout=300,
                             alive=worker.alive, describe=worker.log_tail)
            calls = sum(model.requests.values())
            produce(settings, alerts(args.alerts, args.signatures, offset=args.signatures))
            records = wait_for_records(settings, "alerts.classified",
                                       lambda rs: len(rs) >= args.signatures + args.alerts, timeout=600,
                                       alive=worker.alive, describe=worker.log_tail)
        assert sum(model.requests.values()) == calls, "the warm run asked the model"
        llm_records = [r for r in records[args.signatures:]]
        # Every alert the rules left to defaults got the model's (cached) answer.
        assert not [r for r in llm_records if "llm not used" in (r.value.classification.reason or "")]
        by_llm = sum(r.value.classification.classified_by == "llm" for r in llm_records)
        print(f"warm run: {by_llm} of {len(llm_records)} alerts classified from the cache, the rest by rules")
        results.append(("llm-l1 (warm in-process cache)", *rate(records, args.alerts)))

        # A second worker group on a fresh prefix, same model name: Redis holds every answer.
        settings2 = settings_with_topology(bootstrap, "bench-classify")
        settings2 = settings2.model_copy(update={"classification": llm, "redis": RedisSettings(url=redis_url),
                                                 "worker": WorkerSettings(data_dir=work / "llm2")})
        produce(settings2, alerts(args.alerts, args.signatures, offset=10 * args.alerts))
        records = run_worker(settings2, args.alerts, work / "logs-llm-l2")
        assert sum(model.requests.values()) == calls, "the L2 run asked the model"
        results.append(("llm-l2 (empty L1, warm Redis; L1 fills as it goes)", *rate(records, args.alerts)))
        results.append(("llm-l1, in-process (no Kafka)", in_process(settings, args.alerts, args.signatures, True, model), 0))

    print("| path | alerts/s | seconds |")
    print("| --- | ---: | ---: |")
    for name, per_second, seconds in results:
        print(f"| {name} | {per_second:,.0f} | {seconds:.2f} |" if seconds else f"| {name} | {per_second:,.0f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
