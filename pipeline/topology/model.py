"""The topology file, validated: pure data, no Kafka."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.durations import parse_duration

TOPIC_NAME = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$")
STAGE_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
# Topic-level configs this file manages through first-class keys; `config:` may not repeat them.
MANAGED_CONFIG_KEYS = {"cleanup.policy", "retention.ms"}


class TopologyError(ValueError):
    """The topology file is malformed; the message names the file and the offending key."""


def _retention_ms(value: str | int) -> int:
    if value in (-1, "-1"):
        return -1
    return int(parse_duration(str(value)).total_seconds() * 1000)


class TopicSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    key: str = ""
    schema_name: str | None = Field(None, alias="schema")
    partitions: int = Field(ge=1)
    replication_factor: int = Field(ge=1)
    retention_ms: int
    cleanup_policy: Literal["delete", "compact", "compact,delete"]
    delay_s: float | None = None
    config: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_follows_convention(cls, name: str) -> str:
        if not TOPIC_NAME.match(name):
            raise ValueError(f"topic name {name!r} does not follow <entity>.<what> in lower case")
        return name

    @field_validator("config")
    @classmethod
    def _no_managed_keys(cls, config: dict[str, str]) -> dict[str, str]:
        clash = MANAGED_CONFIG_KEYS & config.keys()
        if clash:
            raise ValueError(f"set {sorted(clash)} through cleanup_policy/retention, not config")
        return config

    def kafka_config(self) -> dict[str, str]:
        """Topic-level configs as the broker stores them."""
        return {"cleanup.policy": self.cleanup_policy, "retention.ms": str(self.retention_ms), **self.config}


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    inputs: tuple[str, ...]
    outputs: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()  # read in full by every worker (global tables), not partitioned
    tables: tuple[str, ...] = ()
    consumer_group: str

    @field_validator("name")
    @classmethod
    def _stage_name(cls, name: str) -> str:
        if not STAGE_NAME.match(name):
            raise ValueError(f"stage name {name!r} must be lower case letters, digits, - or _")
        return name


class Topology(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = "<memory>"
    topics: dict[str, TopicSpec]
    stages: dict[str, Stage]

    @model_validator(mode="after")
    def _references_and_copartitioning(self) -> Topology:
        for stage in self.stages.values():
            for kind in ("inputs", "outputs", "reads"):
                for topic in getattr(stage, kind):
                    if topic not in self.topics:
                        raise ValueError(f"stage {stage.name!r} {kind} names undeclared topic {topic!r}")
            # A stage with tables keeps state per partition: every input must have the same
            # partition count, or keys would meet their state on a different partition.
            if stage.tables:
                counts = {t: self.topics[t].partitions for t in stage.inputs}
                if len(set(counts.values())) > 1:
                    raise ValueError(
                        f"stage {stage.name!r} has tables {list(stage.tables)} but its inputs are not "
                        f"co-partitioned: {counts}"
                    )
        return self

    def topic(self, name: str) -> TopicSpec:
        return self.topics[name]

    def retry_tiers(self) -> list[TopicSpec]:
        """The notification retry topics, shortest delay first."""
        tiers = [t for t in self.topics.values() if t.delay_s is not None]
        return sorted(tiers, key=lambda t: t.delay_s or 0)


def parse_topology(document: dict[str, Any], source: str = "<memory>") -> Topology:
    """Expand defaults and validate a parsed topology document."""
    if not isinstance(document, dict):
        raise TopologyError(f"{source}: expected a mapping with defaults, topics, stages")
    unknown = set(document) - {"defaults", "topics", "stages"}
    if unknown:
        raise TopologyError(f"{source}: unknown top-level keys {sorted(unknown)}")
    defaults = document.get("defaults") or {}
    try:
        topics = {
            name: _topic_from_yaml(name, spec or {}, defaults)
            for name, spec in (document.get("topics") or {}).items()
        }
        stages = {
            name: Stage(name=name, consumer_group=(spec or {}).get("consumer_group", f"pipeline-{name}"),
                        **{k: v for k, v in (spec or {}).items() if k != "consumer_group"})
            for name, spec in (document.get("stages") or {}).items()
        }
        topics.update(_changelog_topics(stages.values(), topics, defaults))
        return Topology(source=source, topics=topics, stages=stages)
    except (ValidationError, ValueError, TypeError) as exc:
        raise TopologyError(f"{source}: {exc}") from exc


# Records that grow with a group's size (table values, notifications) may be this large; Kafka's
# default 1 MB would refuse a group of a few thousand alerts (StageApp raises the producers' limit too).
LARGE_RECORD_SIZE = 16 * 1024 * 1024
LARGE_RECORD_BYTES = str(LARGE_RECORD_SIZE)


def changelog_topic_name(stage: Stage, table: str) -> str:
    """Faust's name for a table's changelog: ``<app id>-<table>-changelog`` (app id = consumer group)."""
    return f"{stage.consumer_group}-{table}-changelog"


def _changelog_topics(stages, topics: dict[str, TopicSpec], defaults: dict[str, Any]) -> dict[str, TopicSpec]:
    """The compacted changelog of every stage table, declared like any topic so that `apply` creates it
    (workers never create topics) with as many partitions as the stage's inputs."""
    derived = {}
    for stage in stages:
        for table in stage.tables:
            if not stage.inputs or stage.inputs[0] not in topics:
                continue  # reported by the reference check
            name = changelog_topic_name(stage, table)
            derived[name] = TopicSpec(
                name=name, description=f"Changelog of the {stage.name} stage's {table} table.",
                key="table key", schema=None, partitions=topics[stage.inputs[0]].partitions,
                replication_factor=defaults.get("replication_factor", 1), retention_ms=-1,
                cleanup_policy="compact",
                # A table value can be a whole aggregation group: thousands of alerts, megabytes.
                config={"max.message.bytes": LARGE_RECORD_BYTES},
            )
    return derived


def _topic_from_yaml(name: str, spec: dict[str, Any], defaults: dict[str, Any]) -> TopicSpec:
    unknown = set(spec) - {"description", "key", "schema", "partitions", "replication_factor",
                           "retention", "cleanup_policy", "delay", "config"}
    if unknown:
        raise ValueError(f"topic {name!r}: unknown keys {sorted(unknown)}")
    delay = spec.get("delay")
    return TopicSpec(
        name=name,
        description=spec.get("description", ""),
        key=spec.get("key", ""),
        schema=spec.get("schema"),
        partitions=spec.get("partitions", defaults.get("partitions", 1)),
        replication_factor=spec.get("replication_factor", defaults.get("replication_factor", 1)),
        retention_ms=_retention_ms(spec.get("retention", defaults.get("retention", "7d"))),
        cleanup_policy=spec.get("cleanup_policy", defaults.get("cleanup_policy", "delete")),
        delay_s=parse_duration(str(delay)).total_seconds() if delay is not None else None,
        config={k: str(v) for k, v in (spec.get("config") or {}).items()},
    )


def load_topology(path: Path) -> Topology:
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise TopologyError(f"{path}: no such topology file") from exc
    except yaml.YAMLError as exc:
        raise TopologyError(f"{path}: not valid YAML: {exc}") from exc
    return parse_topology(document, source=str(path))
