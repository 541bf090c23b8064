"""Make a Kafka cluster match a topology: create what is missing, report drift, destroy nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from pipeline.topology.model import TopicSpec, Topology


@dataclass
class Drift:
    topic: str
    what: str          # "partitions", "replication_factor" or a config key
    declared: str
    actual: str
    fixed: bool = False
    note: str = ""

    def __str__(self) -> str:
        state = "fixed" if self.fixed else "DRIFT"
        note = f" ({self.note})" if self.note else ""
        return f"{state}: {self.topic} {self.what}: declared {self.declared}, cluster has {self.actual}{note}"


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)

    @property
    def unresolved(self) -> list[Drift]:
        return [d for d in self.drift if not d.fixed]


@dataclass(frozen=True)
class TopicState:
    """What the cluster has for one topic."""

    partitions: int
    replication_factor: int
    config: dict[str, str]


def cluster_state(admin: AdminClient, names: list[str], timeout: float) -> dict[str, TopicState]:
    """Partitions, replication and configs of those of ``names`` that exist."""
    metadata = admin.list_topics(timeout=timeout)
    present = [n for n in names if n in metadata.topics and metadata.topics[n].error is None]
    configs: dict[str, dict[str, str]] = {}
    if present:
        futures = admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, n) for n in present], request_timeout=timeout
        )
        for resource, future in futures.items():
            configs[resource.name] = {k: e.value for k, e in future.result(timeout=timeout).items()}
    state = {}
    for name in present:
        partitions = metadata.topics[name].partitions
        replicas = len(partitions[0].replicas) if partitions else 0
        state[name] = TopicState(len(partitions), replicas, configs.get(name, {}))
    return state


def _drift_of(spec: TopicSpec, name: str, actual: TopicState, replication_factor: int) -> list[Drift]:
    drift = []
    if actual.partitions != spec.partitions:
        note = ("keys may now map to other partitions than before" if actual.partitions < spec.partitions
                else "partitions can never be removed; recreate the topic to shrink it")
        drift.append(Drift(name, "partitions", str(spec.partitions), str(actual.partitions), note=note))
    if actual.replication_factor != replication_factor:
        drift.append(Drift(name, "replication_factor", str(replication_factor),
                           str(actual.replication_factor), note="needs a partition reassignment"))
    for key, value in spec.kafka_config().items():
        if actual.config.get(key) != value:
            drift.append(Drift(name, key, value, str(actual.config.get(key))))
    return drift


def apply_topology(
    admin: AdminClient,
    topology: Topology,
    prefix: str = "",
    *,
    replication_factor: int | None = None,
    fix_config: bool = False,
    increase_partitions: bool = False,
    timeout: float = 30.0,
) -> ApplyReport:
    """Idempotent: creates missing topics, compares the rest with the declaration.

    ``fix_config`` sets drifted topic configs (safe: data stays). ``increase_partitions`` adds
    partitions to topics that have fewer than declared; off by default because it changes which
    partition a key lands on, which breaks per-key ordering and co-partitioned state until drained.
    Replication drift and surplus partitions are only reported.
    """
    specs = {prefix + name: spec for name, spec in topology.topics.items()}
    rf = lambda spec: replication_factor or spec.replication_factor  # noqa: E731
    report = ApplyReport()
    existing = cluster_state(admin, list(specs), timeout)

    missing = [n for n in specs if n not in existing]
    if missing:
        new = [NewTopic(n, num_partitions=specs[n].partitions, replication_factor=rf(specs[n]),
                        config=specs[n].kafka_config()) for n in missing]
        for name, future in admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout).items():
            try:
                future.result(timeout=timeout)
                report.created.append(name)
            except KafkaException as exc:
                # Another `apply` (a second replica, a CI job) created it first: compare it below.
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        _wait_until_visible(admin, {n: specs[n].partitions for n in report.created}, timeout)
        existing = cluster_state(admin, list(specs), timeout)

    for name, spec in specs.items():
        if name in report.created:
            continue
        drift = _drift_of(spec, name, existing[name], rf(spec))
        if not drift:
            report.unchanged.append(name)
        report.drift.extend(drift)

    if fix_config:
        _fix_configs(admin, [d for d in report.drift if d.what not in ("partitions", "replication_factor")], timeout)
    if increase_partitions:
        _add_partitions(admin, [d for d in report.drift if d.what == "partitions"
                                and int(d.actual) < int(d.declared)], timeout)
    return report


def _wait_until_visible(admin: AdminClient, partitions: dict[str, int], timeout: float) -> None:
    """Block until new topics have a leader on every partition, so callers can produce at once."""
    deadline = time.monotonic() + timeout
    while partitions:
        metadata = admin.list_topics(timeout=timeout)
        ready = {
            name for name, count in partitions.items()
            if name in metadata.topics
            and len(metadata.topics[name].partitions) == count
            and all(p.leader >= 0 for p in metadata.topics[name].partitions.values())
        }
        if ready == set(partitions):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics not ready after {timeout}s: {sorted(set(partitions) - ready)}")
        time.sleep(0.1)


def _fix_configs(admin: AdminClient, drift: list[Drift], timeout: float) -> None:
    by_topic: dict[str, list[Drift]] = {}
    for d in drift:
        by_topic.setdefault(d.topic, []).append(d)
    if not by_topic:
        return
    resources = [
        ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            ConfigEntry(d.what, d.declared, incremental_operation=AlterConfigOpType.SET) for d in items
        ])
        for topic, items in by_topic.items()
    ]
    for resource, future in admin.incremental_alter_configs(resources, request_timeout=timeout).items():
        future.result(timeout=timeout)
    # The broker acknowledges before its metadata cache serves the new values; wait for them.
    deadline = time.monotonic() + timeout
    while True:
        state = cluster_state(admin, list(by_topic), timeout)
        if all(state[d.topic].config.get(d.what) == d.declared for d in drift):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"config changes not visible after {timeout}s: {[str(d) for d in drift]}")
        time.sleep(0.1)
    for d in drift:
        d.fixed = True


def _add_partitions(admin: AdminClient, drift: list[Drift], timeout: float) -> None:
    if not drift:
        return
    futures = admin.create_partitions([NewPartitions(d.topic, int(d.declared)) for d in drift],
                                      request_timeout=timeout)
    for d in drift:
        futures[d.topic].result(timeout=timeout)
    _wait_until_visible(admin, {d.topic: int(d.declared) for d in drift}, timeout)
    for d in drift:
        d.fixed = True
