"""The topology file, validated: pure data, no Kafka."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.durations import parse_duration

TOPIC_NAME = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$")
STAGE_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
# Topic-level configs this file manages through first-class keys; `config:` may not repeat them.
MANAGED_CONFIG_KEYS = {"cleanup.policy", "retention.ms"}
# What a stage may `require`: an optional part of the deployment, and the setting that enables it
# (pipeline.topology.enabled_features reads them from the settings).
FEATURES = {"history": "history.enabled"}


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
    # What decides a record's partition (fingerprint, group_key, ...): topics keyed alike with equal
    # partition counts are co-partitioned, so stages reading them can be chained.
    keyed_by: str = ""
    # Written even where both its writer and reader run in one chain (for consumers outside the
    # pipeline); such records carry the tap header and the chain does not read them back.
    tap: bool = False
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


class TableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    # The compacted topic that is the table's log; by default one of its own (changelog_topic_name).
    # A table may use a public topic as its changelog when the table is that topic's content (dedup's
    # alert_state is alerts.state): one write per change instead of two.
    changelog: str


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    # port -> topic. The processor (pipeline.stages) names ports; the topology says which topic each is.
    inputs: dict[str, str]
    outputs: dict[str, str] = Field(default_factory=dict)
    reads: dict[str, str] = Field(default_factory=dict)  # read in full by every worker (global views)
    tables: dict[str, TableSpec] = Field(default_factory=dict)
    dead_letters: str | None = None   # where records the stage rejects go, with the reason in headers
    chain: Literal["auto", "new"] = "auto"  # new: start a chain of its own even where it could join
    consumer_group: str               # of the chain this stage starts, when it starts one
    # A feature (FEATURES) the deployment must enable for the stage to run; its chain is not started
    # otherwise. Only leaves of the data flow may require one: no stage that runs without it reads
    # what it writes, so leaving it out changes nothing for the others.
    requires: Literal["history"] | None = None

    @field_validator("name")
    @classmethod
    def _stage_name(cls, name: str) -> str:
        if not STAGE_NAME.match(name):
            raise ValueError(f"stage name {name!r} must be lower case letters, digits, - or _")
        return name

    def topics(self) -> list[str]:
        """Every topic the stage touches (inputs, outputs, reads, changelogs, dead letters)."""
        names = [*self.inputs.values(), *self.outputs.values(), *self.reads.values(),
                 *(t.changelog for t in self.tables.values())]
        if self.dead_letters:
            names.append(self.dead_letters)
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Chain:
    """Adjacent stages run in one worker, passing records in memory (Flink's operator chaining).

    The chain's consumer group reads the first stage's inputs and, for each later stage, its input
    topic too: a record whose key belongs to another partition (normalize re-keys a relabeled alert)
    is written there and read back by the worker that owns its partition.
    """

    name: str                       # its first stage
    stages: tuple[Stage, ...]
    consumer_group: str
    broken_because: str             # why the previous stage's chain could not take the first stage

    def inputs(self) -> dict[str, tuple[Stage, str]]:
        """topic -> (the stage it enters at, that stage's port)."""
        out: dict[str, tuple[Stage, str]] = {}
        for stage in self.stages:
            for port, topic in stage.inputs.items():
                out.setdefault(topic, (stage, port))
        return out

    def internal(self) -> set[str]:
        """Topics passed in memory between the chain's stages (written only as taps or re-keyed)."""
        return {topic for stage in self.stages[1:] for topic in stage.inputs.values()}

    def tables(self) -> list[tuple[Stage, TableSpec]]:
        return [(stage, table) for stage in self.stages for table in stage.tables.values()]

    @property
    def requires(self) -> str | None:
        """The feature the chain needs (every stage of a chain requires the same, see Topology)."""
        return self.stages[0].requires


class Topology(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = "<memory>"
    topics: dict[str, TopicSpec]
    stages: dict[str, Stage]

    @model_validator(mode="after")
    def _references_and_copartitioning(self) -> Topology:
        for stage in self.stages.values():
            for kind in ("inputs", "outputs", "reads"):
                for port, topic in getattr(stage, kind).items():
                    if topic not in self.topics:
                        raise ValueError(f"stage {stage.name!r} {kind} port {port!r} names undeclared topic {topic!r}")
            for table in stage.tables.values():
                if table.changelog not in self.topics:
                    raise ValueError(f"stage {stage.name!r} table {table.name!r}: changelog {table.changelog!r} "
                                     "is not a declared topic")
                if "compact" not in self.topics[table.changelog].cleanup_policy:
                    raise ValueError(f"stage {stage.name!r} table {table.name!r}: changelog {table.changelog!r} "
                                     "must be compacted")
            if stage.dead_letters is not None and stage.dead_letters not in self.topics:
                raise ValueError(f"stage {stage.name!r} dead_letters names undeclared topic {stage.dead_letters!r}")
            # A stage with tables keeps state per partition: every input and changelog must have the
            # same partition count, or keys would meet their state on a different partition.
            if stage.tables:
                counts = {t: self.topics[t].partitions
                          for t in [*stage.inputs.values(), *(s.changelog for s in stage.tables.values())]}
                if len(set(counts.values())) > 1:
                    raise ValueError(
                        f"stage {stage.name!r} has tables {list(stage.tables)} but its inputs are not "
                        f"co-partitioned: {counts}"
                    )
        for chain in self.chains():  # every chain is well-formed
            for stage in chain.stages:
                if stage.requires != chain.requires:
                    raise ValueError(f"stage {stage.name!r} runs chained after {chain.stages[0].name!r} but requires "
                                     f"{stage.requires or 'nothing'}, the chain {chain.requires or 'nothing'}: "
                                     "give it `chain: new`")
        for stage in self.stages.values():
            if stage.requires is None:
                continue
            written = set(stage.outputs.values()) - {stage.dead_letters}
            for other in self.stages.values():
                read = written & {*other.inputs.values(), *other.reads.values()}
                if read and other.requires != stage.requires:
                    raise ValueError(f"stage {other.name!r} reads {', '.join(sorted(read))}, written by "
                                     f"{stage.name!r}, which requires {stage.requires}: only stages that "
                                     f"require it too may read it")
        return self

    def topic(self, name: str) -> TopicSpec:
        return self.topics[name]

    def retry_tiers(self) -> list[TopicSpec]:
        """The notification retry topics, shortest delay first."""
        tiers = [t for t in self.topics.values() if t.delay_s is not None]
        return sorted(tiers, key=lambda t: t.delay_s or 0)

    def chains(self) -> list[Chain]:
        """The stages, in file order, cut into chains: a stage joins the chain of the stage before it
        unless it asks for a chain of its own or cannot run in the same task (see ``_why_not_chained``)."""
        chains: list[list[Stage]] = []
        reasons: list[str] = []
        for stage in self.stages.values():
            reason = self._why_not_chained(chains[-1] if chains else None, stage)
            if reason is None:
                chains[-1].append(stage)
            else:
                chains.append([stage])
                reasons.append(reason)
        return [Chain(name=stages[0].name, stages=tuple(stages), consumer_group=stages[0].consumer_group,
                      broken_because=reason) for stages, reason in zip(chains, reasons, strict=True)]

    def enabled_chains(self, features: Collection[str]) -> list[Chain]:
        """The chains a deployment with ``features`` enabled runs: every chain whose stages require
        nothing or one of them."""
        return [chain for chain in self.chains() if chain.requires is None or chain.requires in features]

    def chain_of(self, stage_name: str) -> Chain:
        for chain in self.chains():
            if any(s.name == stage_name for s in chain.stages):
                return chain
        raise KeyError(stage_name)

    def _why_not_chained(self, chain: list[Stage] | None, stage: Stage) -> str | None:
        if chain is None:
            return "first stage"
        if stage.chain == "new":
            return "the topology asks for a new chain"
        previous = chain[-1]
        produced = set(previous.outputs.values())
        foreign = [t for t in stage.inputs.values() if t not in produced]
        if foreign:
            return f"reads {', '.join(foreign)}, which {previous.name} does not write"
        first = self.topics[next(iter(chain[0].inputs.values()))]
        for topic in stage.inputs.values():
            spec = self.topics[topic]
            if spec.keyed_by != first.keyed_by or spec.partitions != first.partitions:
                return (f"{topic} is keyed by {spec.keyed_by} in {spec.partitions} partitions, the chain's input "
                        f"by {first.keyed_by} in {first.partitions}: a repartition")
        return None


def parse_topology(document: dict[str, Any], source: str = "<memory>") -> Topology:
    """Expand defaults and validate a parsed topology document."""
    if not isinstance(document, dict):
        raise TopologyError(f"{source}: expected a mapping with defaults, topics, stages")
    unknown = set(document) - {"defaults", "topics", "stages", "extends"}
    if unknown:
        raise TopologyError(f"{source}: unknown top-level keys {sorted(unknown)}")
    defaults = document.get("defaults") or {}
    try:
        topics = {
            name: _topic_from_yaml(name, spec or {}, defaults)
            for name, spec in (document.get("topics") or {}).items()
        }
        stages = {name: _stage_from_yaml(name, spec or {}) for name, spec in (document.get("stages") or {}).items()}
        topics.update(_changelog_topics(stages.values(), topics, defaults))
        stages = {name: stage.model_copy(update={"tables": {
            t: spec.model_copy(update={"changelog": spec.changelog or changelog_topic_name(stage, t)})
            for t, spec in stage.tables.items()}}) for name, stage in stages.items()}
        return Topology(source=source, topics=topics, stages=stages)
    except (ValidationError, ValueError, TypeError) as exc:
        raise TopologyError(f"{source}: {exc}") from exc


# Records that grow with a group's size (table values, notifications) may be this large; Kafka's
# default 1 MB would refuse a group of a few thousand alerts (StageApp raises the producers' limit too).
LARGE_RECORD_SIZE = 16 * 1024 * 1024
LARGE_RECORD_BYTES = str(LARGE_RECORD_SIZE)


def changelog_topic_name(stage: Stage, table: str) -> str:
    """A table's own changelog: ``<stage's consumer group>-<table>-changelog``. Named after the stage,
    not the chain, so that changing the chaining never moves a table's state."""
    return f"{stage.consumer_group}-{table}-changelog"


def _changelog_topics(stages, topics: dict[str, TopicSpec], defaults: dict[str, Any]) -> dict[str, TopicSpec]:
    """The compacted changelog of every stage table that has none declared, declared like any topic so
    that `apply` creates it (workers never create topics) with as many partitions as the stage's inputs."""
    derived = {}
    for stage in stages:
        for table, spec in stage.tables.items():
            if spec.changelog:
                continue
            first = next(iter(stage.inputs.values()), None)
            if first not in topics:
                continue  # reported by the reference check
            name = changelog_topic_name(stage, table)
            derived[name] = TopicSpec(
                name=name, description=f"Changelog of the {stage.name} stage's {table} table.",
                key="table key", schema=None, partitions=topics[first].partitions,
                replication_factor=defaults.get("replication_factor", 1), retention_ms=-1,
                cleanup_policy="compact", keyed_by=topics[first].keyed_by,
                config={"max.message.bytes": LARGE_RECORD_BYTES},
            )
    return derived


def _stage_from_yaml(name: str, spec: dict[str, Any]) -> Stage:
    unknown = set(spec) - {"description", "inputs", "outputs", "reads", "tables", "dead_letters", "chain",
                           "consumer_group", "requires"}
    if unknown:
        raise ValueError(f"stage {name!r}: unknown keys {sorted(unknown)}")
    for kind in ("inputs", "outputs", "reads"):
        if not isinstance(spec.get(kind) or {}, dict):
            raise ValueError(f"stage {name!r}: {kind} maps port names to topics ({{port: topic}}), "
                             f"got {type(spec.get(kind)).__name__}")
    tables = spec.get("tables") or {}
    if not isinstance(tables, dict):
        raise ValueError(f"stage {name!r}: tables maps table names to {{changelog: topic}} (or {{}})")
    return Stage(
        name=name, description=spec.get("description", ""), inputs=spec.get("inputs") or {},
        outputs=spec.get("outputs") or {}, reads=spec.get("reads") or {},
        tables={t: TableSpec(name=t, changelog=(v or {}).get("changelog", "")) for t, v in tables.items()},
        dead_letters=spec.get("dead_letters"), chain=spec.get("chain", "auto"),
        consumer_group=spec.get("consumer_group", f"pipeline-{name}"), requires=spec.get("requires"),
    )


def _topic_from_yaml(name: str, spec: dict[str, Any], defaults: dict[str, Any]) -> TopicSpec:
    unknown = set(spec) - {"description", "key", "schema", "partitions", "replication_factor",
                           "retention", "cleanup_policy", "delay", "keyed_by", "tap", "config"}
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
        keyed_by=spec.get("keyed_by", ""),
        tap=bool(spec.get("tap", False)),
        config={k: str(v) for k, v in (spec.get("config") or {}).items()},
    )


def load_topology(path: Path) -> Topology:
    return parse_topology(_document(path, ()), source=str(path))


def _document(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """A topology file's document, with what it ``extends`` (a file relative to it) merged under it:
    its ``defaults``, topics and stages override the base's key by key (e.g. ``stages: {classify:
    {chain: new}}`` splits one stage off the default chaining)."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise TopologyError(f"{path}: no such topology file") from exc
    except yaml.YAMLError as exc:
        raise TopologyError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or "extends" not in document:
        return document
    base_path = (path.parent / str(document.pop("extends"))).resolve()
    if base_path in seen or base_path == path.resolve():
        raise TopologyError(f"{path}: extends {base_path}, which extends it again")
    base = _document(base_path, (*seen, path.resolve()))
    if not isinstance(base, dict):
        raise TopologyError(f"{base_path}: expected a mapping with defaults, topics, stages")
    merged = dict(base)
    for section in ("defaults", "topics", "stages"):
        override = document.get(section) or {}
        if not isinstance(override, dict):
            raise TopologyError(f"{path}: {section} must be a mapping")
        combined = dict(base.get(section) or {})
        for name, value in override.items():
            if section == "defaults" or not isinstance(value, dict) or not isinstance(combined.get(name), dict):
                combined[name] = value
            else:
                combined[name] = {**combined[name], **value}
        merged[section] = combined
    return merged
