"""The one configuration object of every pipeline process.

Values come, highest priority first, from: keyword arguments, environment variables
(``PIPELINE_`` prefix, ``__`` between section and knob, e.g. ``PIPELINE_KAFKA__BOOTSTRAP_SERVERS``),
the YAML file named by ``PIPELINE_CONFIG_FILE`` (same nesting as the sections below), then defaults.
``pipeline settings`` prints every knob; docs/configuration.md is generated from it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from pipeline.paths import REPO_ROOT

ENV_PREFIX = "PIPELINE_"
ENV_NESTED_DELIMITER = "__"
CONFIG_FILE_ENV = "PIPELINE_CONFIG_FILE"


class Section(BaseModel):
    """A settings section; a misspelt knob is an error, not silently ignored.

    Errors never show the value given (``hide_input_in_errors``): a misspelt or mistyped secret
    (``PIPELINE_KAFKA__SASL_PASWORD=...``) must not end up in a terminal, a log or a CI transcript.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class KafkaSettings(Section):
    """How every process reaches the Kafka cluster."""

    bootstrap_servers: str = Field(
        "127.0.0.1:19092", description="Comma-separated host:port list of Kafka brokers."
    )
    client_id: str = Field("alert-pipeline", description="Client id reported to the brokers.")
    security_protocol: str = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: str | None = Field(None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password (secret).")
    ssl_ca_location: Path | None = Field(None, description="CA bundle for SSL listeners.")
    ssl_certificate_location: Path | None = Field(
        None, description="Client certificate (PEM) for listeners that require one (mTLS).")
    ssl_key_location: Path | None = Field(None, description="Private key (PEM) of the client certificate.")
    ssl_key_password: SecretStr | None = Field(None, description="Password of the client key, if encrypted (secret).")
    request_timeout_s: float = Field(
        10.0, gt=0, description="Admin and metadata request timeout, seconds."
    )

    def client_config(self) -> dict[str, Any]:
        """librdkafka (confluent-kafka) configuration shared by producers, consumers and admin."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location:
            config["ssl.ca.location"] = str(self.ssl_ca_location)
        if self.ssl_certificate_location:
            config["ssl.certificate.location"] = str(self.ssl_certificate_location)
        if self.ssl_key_location:
            config["ssl.key.location"] = str(self.ssl_key_location)
        if self.ssl_key_password:
            config["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        return config


class TopicSettings(Section):
    """Which topology the pipeline runs and how its topic names are formed."""

    topology_file: Path = Field(
        REPO_ROOT / "topologies" / "default.yaml",
        description="YAML file declaring every topic and stage.",
    )
    prefix: str = Field(
        "",
        description="Prepended to every topic and consumer group name "
        "(several pipelines on one cluster; tests use a fresh prefix each).",
    )
    replication_factor: int | None = Field(
        None, ge=1, description="Overrides the topology's replication factor for every topic."
    )


class RedisSettings(Section):
    """Redis: the sink's delivery ledger and thread memory, the LLM answer cache. Every client gets
    these timeouts and a circuit breaker (pipeline.redis_client)."""

    url: str = Field("redis://127.0.0.1:16379/0", description="redis:// or rediss:// (TLS) URL; a password "
                     "may be in it (redis://:PASSWORD@host:port/0), or use `password`/`password_file`.")
    username: str | None = Field(None, description="ACL user name (Redis 6+); the default user when unset.")
    password: SecretStr | None = Field(None, description="Password (AUTH) (secret).")
    password_file: Path | None = Field(
        None, description="File holding the password (e.g. a Docker secret), read when a client is made; "
        "instead of `password`.")
    tls_ca_file: Path | None = Field(
        None, description="CA bundle that verifies the server's certificate (rediss://); the system's when unset.")
    tls_cert_file: Path | None = Field(None, description="Client certificate, when the server asks for one.")
    tls_key_file: Path | None = Field(None, description="Key of the client certificate.")
    tls_check_hostname: bool = Field(True, description="Check that the server certificate names the URL's host.")
    connect_timeout_s: float = Field(2.0, gt=0, le=60, description="Timeout of connecting (and TLS), seconds.")
    timeout_s: float = Field(
        2.0, gt=0, le=60, description="Timeout of one command's answer, seconds: a Redis that stops answering "
        "is an error after this, never a silent stall.")
    breaker_failures: int = Field(
        3, ge=1, description="Consecutive failed commands that open a client's circuit breaker (Redis "
        "counted as down: logged once, metric pipeline_redis_breaker_state).")
    breaker_reset_s: float = Field(
        5.0, gt=0, description="Seconds an open breaker waits before one probe command tries Redis again.")

    @model_validator(mode="after")
    def _one_password_source(self) -> RedisSettings:
        given = [name for name, value in (("a password in url", _url_password(self.url)),
                                          ("password", self.password), ("password_file", self.password_file))
                 if value]
        if len(given) > 1:
            raise ValueError(f"redis: give the password once, not as {' and '.join(given)}")
        if not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("redis.url must start with redis://, rediss:// or unix://")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("redis: tls_cert_file and tls_key_file go together")
        return self


def _url_password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password
    except ValueError:
        return None


class BridgeSettings(Section):
    """The HTTP ingest bridge."""

    host: str = Field("127.0.0.1", description="Address the bridge listens on.")
    port: int = Field(
        9093, ge=1, le=65535,
        description="Port of the bridge; 9093 so Prometheus can use it as its Alertmanager.",
    )
    sources_dir: Path = Field(
        REPO_ROOT / "deploy" / "local" / "sources",
        description="Directory of source files, one YAML file per source.",
    )
    ack_timeout_s: float = Field(
        5.0, gt=0,
        description="Longest wait for the broker to acknowledge a request's alerts before "
        "answering 503; also the producer's delivery timeout.",
    )
    retry_after_s: int = Field(5, ge=1, description="Retry-After sent with 503 answers, seconds.")
    workers: int = Field(1, ge=1, description="Bridge processes sharing the port (uvicorn workers).")


class WebSettings(Section):
    """Access to the bridge's HTTP endpoints (ingest, Alertmanager API v2, operations): TLS,
    authentication, roles, request limits. See "Securing the API" in the README."""

    config_file: Path | None = Field(
        None,
        description="Web configuration file, Alertmanager's --web.config.file format (tls_server_config, "
        "http_server_config, basic_auth_users with bcrypt hashes) plus bearer_tokens and roles; "
        "none: plain HTTP without authentication (loopback only unless web.insecure).",
    )
    insecure: bool = Field(
        False,
        description="Allow listening on a non-loopback address without authentication "
        "(anyone who reaches the port may read, silence and ingest). `pipeline bridge --insecure`.",
    )
    public_paths: list[str] = Field(
        ["/healthz"],
        description="Exact paths served without authentication (liveness probes); every other endpoint "
        "needs credentials once the web configuration has users, tokens or required client certificates.",
    )
    max_body_bytes: int = Field(
        1048576, ge=1024,
        description="Largest request body of any endpoint but the ingest paths (those use their "
        "source's limits.max_body_bytes); larger ones get 413.",
    )
    get_concurrency: int = Field(
        8, ge=1, le=1024,
        description="Alertmanager API reads (GET) in progress at once, queued ones included; more get "
        "503 with Retry-After (Alertmanager's --web.get-concurrency).",
    )
    read_threads: int = Field(
        2, ge=1, le=64,
        description="Threads computing Alertmanager API reads, off the event loop that serves ingest.",
    )
    max_silences: int = Field(
        10000, ge=0,
        description="Silences kept at most, expired ones still in retention included; creating one more "
        "is refused with 400 (Alertmanager's --silences.max-silences); 0: no limit.",
    )
    max_silence_size_bytes: int = Field(
        32768, ge=0,
        description="Largest silence record (encoded, as stored on the silences topic); a larger one is "
        "refused with 400 (Alertmanager's --silences.max-silence-size-bytes); 0: no limit.",
    )


class WorkerSettings(Section):
    """Every stream-stage worker (``pipeline worker <stage>``)."""

    store: str = Field(
        "memory://",
        description="Table store: memory:// (tables rebuilt from changelogs at start) "
        "or rocksdb:// (production: fast restarts).",
    )
    data_dir: Path = Field(
        REPO_ROOT / ".dev" / "workers", description="Per-worker local state (RocksDB tables)."
    )
    web_port: int | None = Field(
        None, ge=1, le=65535,
        description="Port of the worker's HTTP endpoint (/metrics); none when unset.",
    )
    stream_buffer_maxsize: int = Field(
        4096, ge=1, description="Records buffered per partition between Kafka and the agent."
    )
    producer_linger_ms: float = Field(
        5.0, ge=0, le=1000,
        description="How long a worker's producer waits to batch records, ms (latency per stage vs CPU).",
    )
    output_delivery_timeout_s: float = Field(
        120.0, ge=5,
        description="How long a stage's output record may wait for the broker's acknowledgement "
        "(librdkafka retries meanwhile); past it the worker stops and re-reads the input.",
    )
    session_timeout_s: float = Field(
        10.0, gt=1, le=300,
        description="Consumer-group session timeout: how long a crashed worker holds its partitions "
        "before the group hands them to others, seconds.",
    )
    instance_id: str | None = Field(
        None,
        description="Static group membership id (e.g. the pod name): a worker restarted with the same "
        "id takes its partitions back at once, without a rebalance.",
    )
    standby_replicas: int = Field(
        0, ge=0, le=3,
        description="Standby copies of each table partition kept by other workers (faster failover, "
        "more memory and broker reads).",
    )
    checkpoint_interval_s: float = Field(
        0.02, gt=0, le=10,
        description="Longest time between checkpoints (tables to their changelogs and the local store, "
        "then input offsets acknowledged); alerts.state lags the stream by about this much.",
    )
    checkpoint_min_gap_s: float = Field(
        0.005, ge=0, le=10, description="Pause after a checkpoint before the next may start, seconds."
    )
    tick_gather_s: float = Field(
        0.002, ge=0, le=1,
        description="When a record made a timer due (group_wait 0), how long the tick waits for more "
        "of the same burst before it runs, seconds.",
    )
    watermark_interval_s: float = Field(
        0.005, gt=0, le=1,
        description="While a chain that feeds the group stage is busy, how often it reports how far it "
        "handled its input (event-time watermark, pipeline.runtime.event_time), seconds.",
    )
    watermark_idle_interval_s: float = Field(
        0.1, gt=0, le=60,
        description="The same when it handled nothing for watermark_hot_s: bounds how long a group "
        "waits for a worker of the upstream chain that got none of the alerts, seconds.",
    )
    watermark_hot_s: float = Field(
        0.05, ge=0, le=60,
        description="How long after the last record a chain reports at watermark_interval_s, seconds.",
    )
    watermark_lateness_ms: int = Field(
        25, ge=0, le=10_000,
        description="A chain that read all its input partition held at a fetch reports it handled up "
        "to that fetch minus this: how long a record may take from its receipt (its timestamp) to "
        "the broker, milliseconds. A group's first flush (group_wait 0) waits about this long.",
    )
    watermark_fetch_wait_ms: int = Field(
        20, ge=1, le=1500,
        description="How long the consumer of a chain that reports its progress lets the broker hold a "
        "fetch that finds no record, milliseconds (Faust's default is 1500): its idle partitions' "
        "reports advance this often.",
    )
    rocksdb_cache_mb: int = Field(32, ge=1, description="RocksDB block cache of a worker (rocksdb:// store), MiB.")
    rocksdb_write_buffer_mb: int = Field(
        8, ge=1, description="RocksDB memtable size of a worker (two at most), MiB."
    )


class ClassificationSettings(Section):
    """The classify stage and the relabeling of the normalize stage (issue #5)."""

    rules_file: Path = Field(
        REPO_ROOT / "deploy" / "local" / "classification.yaml",
        description="YAML file of relabel rules, classification rules, label names and enrichment "
        "workflows; checked when a worker starts.",
    )
    max_in_flight: int = Field(
        64, ge=1, le=10000,
        description="Alerts the classify stage works on at once (LLM and enrichment calls overlap; "
        "records of one alert still leave in order).",
    )
    llm_enabled: bool = Field(False, description="Ask an OpenAI-compatible model to classify alerts.")
    llm_base_url: str = Field(
        "http://127.0.0.1:8000/v1", description="Base URL of the chat-completions API (…/v1)."
    )
    llm_model: str = Field("gpt-4o-mini", description="Model name sent with every request.")
    llm_api_key: SecretStr | None = Field(None, description="Bearer token for the model API (secret).")
    llm_timeout_s: float = Field(
        3.0, gt=0, le=120,
        description="Longest wait for the model per alert, all retries included; then the rules stand.",
    )
    llm_max_concurrency: int = Field(8, ge=1, description="Model requests in flight at once.")
    llm_retries: int = Field(2, ge=0, le=10, description="Retries of a failed model request.")
    llm_retry_backoff_s: float = Field(
        0.2, ge=0, description="First retry delay, doubled on each further retry, seconds."
    )
    llm_breaker_failures: int = Field(
        5, ge=1, description="Consecutive failed alerts that open the circuit breaker."
    )
    llm_breaker_reset_s: float = Field(
        30.0, gt=0, description="How long an open breaker skips the model before one trial call."
    )
    llm_cache_size: int = Field(10000, ge=1, description="Answers kept in the in-process LRU (L1).")
    llm_cache_ttl_s: int = Field(
        86400, ge=1, description="Lifetime of a cached model answer in Redis (L2) and L1, seconds."
    )
    llm_redis_cache: bool = Field(True, description="Use Redis (redis.url) as the shared L2 cache.")
    llm_never_lowers_priority: bool = Field(
        True, description="The model's answer may raise the priority the rules gave (by a rule, the sender's "
        "priority or severity label, or the default) but never lower it: what a sender writes into an alert "
        "reaches the model, so it must not be able to talk a page down.")


class GroupSettings(Section):
    """The grouping stage (aggregation groups, notification log)."""

    external_url: str = Field(
        "http://127.0.0.1:9093",
        description="URL this pipeline is reached at, sent as externalURL in notifications "
        "(Alertmanager's --web.external-url).",
    )
    tick_s: float = Field(
        0.05, gt=0, le=5,
        description="How often due groups are flushed, seconds; a flush is late by at most this.",
    )
    max_flushes_per_tick: int = Field(
        2000, ge=1, description="Groups flushed per tick at most; the rest follow at the next tick."
    )
    first_flush_max_wait_s: float = Field(
        0.25, ge=0, le=10,
        description="How long past its due time a group's first flush waits for the alerts received "
        "with its first one that are still in the stages before (the event-time watermark), seconds.",
    )
    max_notification_bytes: int = Field(
        8 * 1024 * 1024, ge=256 * 1024, le=15 * 1024 * 1024,
        description="A notification of a group larger than this (bytes, encoded) carries its first "
        "alerts that fit and counts the rest in truncatedAlerts, as max_alerts does. Below the "
        "notification topics' max.message.bytes (16 MiB), which a record must never pass.",
    )


class SinkSettings(Section):
    """The sink stage: delivery to the targets, retry tiers, DLQ, ledger (issue #6)."""

    concurrency_per_target: int = Field(
        4, ge=1, le=1000, description="Deliveries in flight at once per target (per target_key)."
    )
    queue_per_target: int = Field(
        1000, ge=1,
        description="Notifications waiting in memory per target; beyond that they go back to a retry "
        "tier uncounted, so a slow target never holds up the others.",
    )
    rate_per_target_s: float = Field(
        200.0, gt=0,
        description="Token bucket rate per target, deliveries per second; targets with a documented "
        "limit (Slack and Telegram 1/s, Discord 2.5/s) use theirs when lower.",
    )
    burst_per_target: int = Field(20, ge=1, description="Token bucket size per target.")
    max_local_wait_s: float = Field(
        5.0, ge=0,
        description="Longest rate-limit or Retry-After wait a notification spends in memory; a longer "
        "one sends it to the retry tier that waits long enough (counted as an attempt).",
    )
    breaker_failures: int = Field(
        5, ge=1, description="Consecutive failed deliveries to a target that open its circuit breaker."
    )
    breaker_cooldown_s: float = Field(
        30.0, gt=0, description="How long an open breaker holds calls back before one probe, seconds."
    )
    http_connect_timeout_s: float = Field(5.0, gt=0, description="Connect timeout of target requests.")
    http_timeout_s: float = Field(
        15.0, gt=0, description="Read/write/pool timeout of target requests, seconds."
    )
    http_max_connections: int = Field(
        200, ge=1, description="Connections of each lane worker's HTTP client (at most 4 are used per worker; "
        "total connections are bounded by lane workers × targets)."
    )
    ledger_ttl_s: int = Field(
        604800, ge=60,
        description="How long the delivery ledger remembers a notification id (default: the 7 days "
        "notifications are kept on their topics).",
    )
    ledger_lease_s: float = Field(
        60.0, gt=0,
        description="Age after which an attempt with no recorded outcome is taken for one whose worker "
        "died mid-delivery; must exceed the longest delivery (HTTP timeouts).",
    )
    on_unknown_outcome: Literal["dead_letter", "redeliver"] = Field(
        "dead_letter",
        description="A worker died between calling a target and recording the outcome: dead_letter "
        "(never a duplicate; an operator replays it) or redeliver (never a gap; the target may see it twice).",
    )
    thread_ttl_s: int = Field(
        7776000, ge=60, description="Lifetime of a group's thread memory (Slack ts, Jira key), seconds."
    )
    max_pending_retries: int = Field(
        10000, ge=1, description="Records per retry tier held in memory while waiting for their due time."
    )


class SilenceSettings(Section):
    """Silence preview and the silence guard of the Alertmanager API (issue #14)."""

    guard_require_equality_matcher: bool = Field(
        False,
        description="Refuse a silence without a name=\"value\" matcher (non-empty value) unless forced. "
        "Off by default: Alertmanager accepts regex-only silences and amtool users write them.",
    )
    guard_max_active_percent: float = Field(
        50.0, gt=0, le=100,
        description="Refuse a silence matching more than this share of the active alerts (and at least "
        "guard_min_matched_alerts of them) unless forced; 100 turns the rule off.",
    )
    guard_min_matched_alerts: int = Field(
        10, ge=1,
        description="The share rule applies only to a silence matching at least this many active alerts.",
    )
    guard_force_marker: str = Field(
        "[force]", min_length=1, max_length=64,
        description="Text in a silence's comment that forces it past the guard (amtool cannot send the "
        "force=true query parameter; the marker also stays on the silence as its record).",
    )
    preview_since_s: float = Field(
        21600.0, gt=0,
        description="Default window of a silence preview, seconds back from now (6 h).",
    )
    preview_max_since_s: float = Field(
        604800.0, gt=0,
        description="Longest window a preview may ask for, seconds (the notifications topic keeps 7 d).",
    )
    preview_max_records: int = Field(
        200000, ge=1,
        description="Notification records a preview reads at most; the answer says when it stopped there.",
    )
    preview_max_seconds: float = Field(
        10.0, gt=0, le=300,
        description="Longest time a preview spends reading notifications; the answer says when it stopped.",
    )
    preview_max_examples: int = Field(
        3, ge=0, le=100, description="Example notifications shown per receiver in a preview."
    )
    preview_max_alerts_shown: int = Field(
        20, ge=0, le=1000, description="Matching active alerts listed in a preview (all are counted)."
    )
    preview_concurrency: int = Field(
        2, ge=1, le=16, description="Previews reading the notifications topic at once per bridge process."
    )


class WhatifSettings(Section):
    """The what-if replay (`pipeline whatif`, issue #14): recorded traffic through the current and a
    candidate configuration."""

    max_records: int = Field(
        1_000_000, ge=1,
        description="Alert records read from the recorded topic at most (held in memory, sorted by time: "
        "about 0.5-1 KiB each); a capped replay says so and covers only part of the window.",
    )
    max_silence_records: int = Field(
        100_000, ge=1, description="Records read from the silences topic at most (it is compacted)."
    )
    max_seconds: float = Field(
        300.0, gt=0, le=3600, description="Longest time spent reading each topic, seconds; a capped read says so."
    )
    max_window_s: float = Field(
        604800.0, gt=0, description="Longest window a replay may ask for, seconds (alerts.raw keeps 7 d)."
    )
    max_notifications: int = Field(
        1_000_000, ge=1,
        description="Notifications one replay may produce at most; past it the replay stops, saying so.",
    )
    max_examples: int = Field(3, ge=0, le=100, description="Examples shown per kind of difference.")


class HistorySettings(Section):
    """PostgreSQL and the alert history kept in it (issue #15): the history stage, its queries, the
    flapping signal. See docs/history.md."""

    enabled: bool = Field(
        False,
        description="Run the history stage (its worker chain `history`) and the flapping mark; needs "
        "the database at dsn, migrated (`pipeline db migrate`). Off: no stage needs PostgreSQL and the "
        "flapping stage passes alerts on unchanged.",
    )
    dsn: str = Field(
        "postgresql://pipeline@127.0.0.1:15432/pipeline",
        description="libpq connection URI or key=value string of the PostgreSQL database (no password "
        "here: use history.password); the default is `pipeline dev postgres up`'s server.",
    )
    password: SecretStr | None = Field(None, description="Password for the DSN's user (secret).")
    pool_min_size: int = Field(1, ge=0, le=100, description="Connections each process keeps open.")
    pool_max_size: int = Field(4, ge=1, le=100, description="Most connections each process opens.")
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="Timeout of one connection attempt.")
    statement_timeout_ms: int = Field(
        5000, ge=100, le=600000,
        description="statement_timeout of query connections (API and `pipeline history`): a query "
        "running longer is cancelled and answered 503.",
    )
    write_statement_timeout_ms: int = Field(
        60000, ge=1000, le=3600000,
        description="statement_timeout of the history stage's writes and of partition maintenance.",
    )
    batch_rows: int = Field(
        5000, ge=1, le=100000,
        description="Rows the history stage buffers before it writes them (it also writes at every "
        "flush the runtime asks for before committing offsets).",
    )
    retention_days: int = Field(
        30, ge=1, le=3650,
        description="Days of history kept in the live tables; older daily partitions move to the archive.",
    )
    archive_retention_days: int = Field(
        365, ge=0, le=36500,
        description="Days a partition stays in the archive tables before it is dropped; 0 keeps it forever.",
    )
    partitions_ahead_days: int = Field(
        3, ge=1, le=60, description="Daily partitions created ahead of today by maintenance.",
    )
    max_future_s: float = Field(
        86400.0, ge=60,
        description="A record time further ahead of the clock than this is dead-lettered (a sender's "
        "broken clock must not create partitions years ahead).",
    )
    maintenance_interval_s: float = Field(
        3600.0, ge=10, description="How often the history stage creates, archives and drops partitions.",
    )
    query_max_limit: int = Field(
        1000, ge=1, le=100000, description="Largest page (limit) a history query may ask for.",
    )
    query_max_scan_rows: int = Field(
        20000, ge=100, le=10000000,
        description="Rows a search reads at most per page to apply regex matchers (evaluated outside "
        "SQL); a page that hits it comes back short with a cursor to continue.",
    )
    api_tokens: SecretStr | None = Field(
        None,
        description="Comma-separated bearer tokens accepted by /api/history/* (secret; several for "
        "rotation). Unset: the endpoints are open, like the rest of the bridge's read API.",
    )
    flapping_threshold: int = Field(
        2, ge=1, le=62,
        description="An alert is flapping when it changed state (fired, resolved) more than this many "
        "times within flapping_window_s (Alerta's rule and defaults).",
    )
    flapping_window_s: float = Field(1800.0, gt=0, le=86400 * 7, description="The flapping window, seconds.")
    flapping_label: str | None = Field(
        "flapping",
        description="Label the flapping stage sets to \"true\" on a flapping alert (routes and inhibit "
        "rules can match it); null: no label.",
    )
    flapping_annotation: str | None = Field(
        None, description="Annotation the flapping stage sets on a flapping alert (its text says how "
        "often it changed); null: none.",
    )
    flapping_refresh_s: float = Field(
        5.0, ge=0.5, le=3600, description="How often the flapping stage re-reads the flapping set.",
    )
    flapping_max_alerts: int = Field(
        100000, ge=1, le=10000000, description="Most fingerprints the flapping set holds in memory.",
    )


class DevSettings(Section):
    """The local development services started by ``pipeline dev`` (broker, Redis, PostgreSQL)."""

    state_dir: Path = Field(
        REPO_ROOT / ".dev", description="Data, logs and pid files of the local services."
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "alert-pipeline",
        description="Downloaded Kafka jars, kept across runs so later starts are offline.",
    )
    kafka_port: int = Field(19092, ge=1, le=65535, description="Local broker's client port.")
    kafka_controller_port: int = Field(
        19093, ge=1, le=65535, description="Local KRaft controller port."
    )
    kafka_secure_listeners: bool = Field(
        False, description="Also listen with SASL_SSL (SCRAM-SHA-512; user `pipeline`, password generated "
        "into <state_dir>/kafka/scram-password) and with mTLS (SSL, client certificate required), with "
        "certificates from the local CA (<state_dir>/certs).")
    kafka_sasl_ssl_port: int = Field(19094, ge=1, le=65535, description="Local broker's SASL_SSL port.")
    kafka_mtls_port: int = Field(19095, ge=1, le=65535, description="Local broker's mTLS (SSL) port.")
    kafka_heap: str = Field(
        "1g", description="JVM heap (-Xms/-Xmx) of the local broker (~60 KB per partition; 512m ran out "
        "at ~16,000 partitions).")
    redis_port: int = Field(16379, ge=1, le=65535, description="Local Redis port.")
    redis_password: SecretStr | None = Field(
        None, description="Password of the local Redis (secret); when unset one is generated into "
        "<state_dir>/redis/password (mode 0600) on its first start and kept.")
    redis_tls_port: int | None = Field(
        None, ge=1, le=65535, description="Also serve TLS on this port (rediss://), with a certificate from "
        "the local CA in <state_dir>/certs (ca.crt verifies it).")
    nats_port: int = Field(14222, ge=1, le=65535, description="Local NATS server's client port (JetStream on).")
    postgres_port: int = Field(15432, ge=1, le=65535, description="Local PostgreSQL port.")
    start_timeout_s: float = Field(
        90.0, gt=0, description="How long to wait for a local service to become ready, seconds."
    )


class SourcesSettings(Section):
    """``pipeline sources run``: the process that runs the poll and stream sources (push sources are
    served by the bridge); the source files are the bridge's, in ``bridge.sources_dir``."""

    host: str = Field("127.0.0.1", description="Address of the sources runner's /healthz, /readyz, /metrics.")
    port: int = Field(9096, ge=1, le=65535, description="Port of the sources runner's HTTP endpoints.")
    ack_timeout_s: float = Field(
        5.0, gt=0, le=120,
        description="How long a write to alerts.raw may wait for the broker before it is retried, seconds.",
    )
    restart_backoff_s: float = Field(
        5.0, gt=0, description="Wait before restarting a source whose task failed unexpectedly, seconds."
    )


class Settings(BaseSettings):
    """Every knob of the pipeline."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        validate_default=True,
        hide_input_in_errors=True,  # see Section
    )

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    max_record_bytes: int = Field(
        262144, ge=1024, le=1000000,
        description="Largest alert record on alerts.raw, encoded: the bridge refuses a larger alert "
        "(400), the normalize stage dead-letters one. At most Kafka's default message size.",
    )
    alertmanager_config: Path = Field(
        REPO_ROOT / "deploy" / "local" / "alertmanager.yml",
        description="Alertmanager-format configuration (routes, receivers, inhibit rules).",
    )
    max_regex_length: int = Field(
        4096, ge=16, le=1_000_000,
        description="Longest regular expression accepted anywhere a user supplies one (matchers of "
        "routes, inhibit rules, silences and API filters, relabel and classification rules, enrichment "
        "triggers), in characters; a longer one is refused with an error naming it.",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    bridge: BridgeSettings = Field(default_factory=BridgeSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    classification: ClassificationSettings = Field(default_factory=ClassificationSettings)
    group: GroupSettings = Field(default_factory=GroupSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    dev: DevSettings = Field(default_factory=DevSettings)
    silences: SilenceSettings = Field(default_factory=SilenceSettings)
    whatif: WhatifSettings = Field(default_factory=WhatifSettings)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"{CONFIG_FILE_ENV}={config_file}: no such file")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    def model_post_init(self, context: Any, /) -> None:
        # Every process builds its Settings before it loads a configuration or takes a request, so the
        # regex cap (process-wide, read where patterns are compiled) is installed here.
        from pipeline.regex import set_max_pattern_length

        set_max_pattern_length(self.max_regex_length)

    def topic(self, name: str) -> str:
        """The cluster-side name of a topology topic."""
        return f"{self.topics.prefix}{name}"


def iter_knobs(model: type[BaseModel] = Settings, path: tuple[str, ...] = ()):
    """Yield (dotted name, env var, default, description) for every leaf setting."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from iter_knobs(annotation, path + (name,))
            continue
        dotted = ".".join(path + (name,))
        env = ENV_PREFIX + ENV_NESTED_DELIMITER.join(path + (name,)).upper()
        default = field.get_default(call_default_factory=True)
        if isinstance(default, Path):
            default = _display_path(default)
        yield dotted, env, default, field.description or ""


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as environment variables, to start another process with the same configuration."""
    env = {}
    for dotted, name, _default, _description in iter_knobs():
        value: Any = settings
        for part in dotted.split("."):
            value = getattr(value, part)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        # Lists are read back from the environment as JSON (pydantic-settings' rule for complex fields).
        env[name] = json.dumps([str(v) for v in value]) if isinstance(value, list) else str(value)
    return env


def _display_path(path: Path) -> str:
    """Show repo- and home-relative defaults portably, not as this machine's absolute path."""
    try:
        return "<repo>/" + str(path.relative_to(REPO_ROOT))
    except ValueError:
        pass
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def knobs_markdown() -> str:
    """The settings reference, as written to docs/configuration.md."""
    lines = [
        "| setting (YAML path) | environment variable | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for dotted, env, default, description in iter_knobs():
        shown = "" if default is None else f"`{default}`"
        lines.append(f"| `{dotted}` | `{env}` | {shown} | {description} |")
    return "\n".join(lines) + "\n"
