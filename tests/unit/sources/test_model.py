"""The one source model: kinds, their blocks, defaults per kind, and errors that name the file and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from pipeline.paths import DEPLOY_DIR
from pipeline.sources.model import MIB, SourceError, load_source, load_sources

SECRET = "upstream-s3cret-that-must-never-leak"


def write(directory: Path, name: str, document) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(document))
    return path


def error(tmp_path: Path, document, environ=None) -> str:
    path = write(tmp_path, "src.yaml", document)
    with pytest.raises(SourceError) as caught:
        load_source(path, environ=environ or {})
    return str(caught.value)


PROMETHEUS = {"kind": "poll", "type": "prometheus", "poll": {"urls": ["http://prom-a:9090/", "https://prom-b:9090"]}}
NATS = {"kind": "stream", "type": "nats", "nats": {"stream": "ALERTS", "subject": "alerts.>"}}
KUBE = {"kind": "stream", "type": "kubernetes", "kubernetes": {"cluster": "prod", "auth": {"type": "in_cluster"}}}


def test_existing_push_files_stay_push_sources():
    registry = load_sources(DEPLOY_DIR / "local" / "sources", kinds=("push",))
    assert {source.kind for source in registry} == {"push"}
    assert registry.for_path("/api/v2/alerts").name == "prometheus"


def test_a_poll_source_gets_its_kind_defaults(tmp_path):
    source = load_source(write(tmp_path, "prom.yaml", PROMETHEUS))
    assert source.kind == "poll" and source.path is None and source.auth is None
    assert source.poll.urls == ("http://prom-a:9090", "https://prom-b:9090")  # trailing / dropped
    assert source.poll.interval == timedelta(seconds=30) and source.poll.ends_at_intervals == 4
    assert source.limits.max_body_bytes == 64 * MIB and source.limits.max_alerts == 100_000
    assert source.breaker.failures == 3 and source.breaker.cooldown == timedelta(seconds=30)
    assert source.target == "http://prom-a:9090 https://prom-b:9090"


def test_limits_given_in_the_file_keep_the_other_kind_defaults(tmp_path):
    source = load_source(write(tmp_path, "prom.yaml", {**PROMETHEUS, "limits": {"max_alerts": 5}}))
    assert source.limits.max_alerts == 5 and source.limits.max_body_bytes == 64 * MIB


def test_nats_and_kubernetes_sources(tmp_path):
    nats = load_source(write(tmp_path, "bus.yaml", {**NATS, "labels": {"region": "eu1"}}))
    assert nats.nats.durable is None and nats.format == "alertmanager-v2" and nats.labels == {"region": "eu1"}
    assert nats.limits.max_body_bytes == MIB
    kube = load_source(write(tmp_path, "k8s.yaml", KUBE))
    assert kube.kubernetes.pending_after == timedelta(minutes=5) and kube.limits.max_alerts == 100_000


def test_secrets_come_from_the_environment_and_never_show(tmp_path):
    document = {**PROMETHEUS, "poll": {**PROMETHEUS["poll"], "auth": {"type": "basic", "username": "u",
                                                                       "password_env": "PROM_PASSWORD"}}}
    source = load_source(write(tmp_path, "prom.yaml", document), environ={"PROM_PASSWORD": SECRET})
    assert source.poll.auth.password.get_secret_value() == SECRET
    assert SECRET not in repr(source) and SECRET not in str(source)
    missing = error(tmp_path, document)
    assert "poll.auth: password_env: environment variable PROM_PASSWORD is not set" in missing


@pytest.mark.parametrize("document, key, words", [
    ({**PROMETHEUS, "kind": "push"}, "type", "it is a poll type: set kind: poll"),
    ({**NATS, "kind": "poll"}, "type", "it is a stream type"),
    ({**PROMETHEUS, "auth": "none"}, "auth", "only push sources take auth"),
    ({**PROMETHEUS, "path": "/x"}, "path", "only push sources have a path"),
    ({"kind": "poll", "type": "prometheus"}, "", "poll: required for type prometheus"),
    ({**PROMETHEUS, "nats": NATS["nats"]}, "", "nats: only allowed for type nats"),
    ({**PROMETHEUS, "poll": {"urls": []}}, "poll.urls", "1 to 32 URLs"),
    ({**PROMETHEUS, "poll": {"urls": ["http://a:1", "http://a:1/"]}}, "poll.urls", "listed twice"),
    ({**PROMETHEUS, "poll": {"urls": ["ftp://a"]}}, "poll.urls[0]", "http:// or https://"),
    ({**PROMETHEUS, "poll": {"urls": ["http://user:pw@a"]}}, "poll.urls[0]", "credentials in the URL are refused"),
    ({**PROMETHEUS, "poll": {"urls": ["http://a?x=1"]}}, "poll.urls[0]", "use params"),
    ({**PROMETHEUS, "poll": {"urls": ["http://a"], "interval": "5s", "timeout": "5s"}}, "poll",
     "timeout must be shorter than interval"),
    ({**PROMETHEUS, "poll": {"urls": ["http://a"], "filter": ['a="b"']}}, "", "poll.filter: only for type alertmanager"),
    ({"kind": "poll", "type": "alertmanager", "poll": {"urls": ["http://a"], "filter": ["{{"]}}, "poll",
     "filter '{{'"),
    ({"kind": "poll", "type": "json", "poll": {"urls": ["http://a"]}}, "", "mapping: required for type json"),
    ({**PROMETHEUS, "mapping": {}}, "", "mapping: only allowed"),
    ({**PROMETHEUS, "breaker": {"failures": 0}}, "breaker.failures", "greater than or equal to 1"),
    ({"type": "alertmanager-v2", "auth": "none", "breaker": {}}, "", "breaker: only poll and stream"),
    ({**NATS, "nats": {"stream": "A B", "subject": "x"}}, "nats.stream", "letters, digits"),
    ({**NATS, "nats": {"stream": "A", "subject": "a.>.b"}}, "nats.subject", "is not a NATS subject"),
    ({**NATS, "nats": {"stream": "A", "subject": "a", "servers": ["http://x"]}}, "nats.servers[0]", "nats:// or tls://"),
    ({**NATS, "nats": {"stream": "A", "subject": "a", "batch": 10, "max_ack_pending": 5}}, "nats",
     "max_ack_pending must be at least batch"),
    ({**NATS, "nats": {"stream": "A", "subject": "a", "format": "generic"}}, "", "mapping: required for nats.format"),
    ({**NATS, "nats": {"stream": "A", "subject": "a", "auth": {"type": "user", "user": "u"}}}, "nats.auth",
     "needs password or password_env"),
    ({**NATS, "nats": {"stream": "A", "subject": "a", "auth": {"type": "creds", "creds_file": "/nope"}}},
     "nats.auth.creds_file", "is not a readable file"),
    ({**KUBE, "kubernetes": {"cluster": "c"}}, "kubernetes.auth", "Field required"),
    ({**KUBE, "kubernetes": {"cluster": "c", "auth": {"type": "in_cluster"}, "namespaces": ["Bad_NS"]}},
     "kubernetes.namespaces", "is not a namespace name"),
    ({**KUBE, "labels": {"0bad": "x"}}, "labels.0bad", "invalid label name"),
    ({**KUBE, "labels": {"team": ""}}, "labels.team", "non-empty value"),
    ({**NATS, "nats": {**NATS["nats"], "tls": {"cert_file": __file__}}}, "nats.tls", "cert_file and key_file go together"),
])
def test_errors_name_the_file_and_the_key(tmp_path, document, key, words):
    message = error(tmp_path, document)
    origin = str(tmp_path / "src.yaml")
    prefix = f"{origin}: {key}: " if key else f"{origin}: "
    assert any(line.startswith(prefix) and words in line for line in message.splitlines()), message


def test_an_inline_secret_in_a_bad_file_is_never_echoed(tmp_path):
    message = error(tmp_path, {**NATS, "nats": {**NATS["nats"], "auth": {"type": "token", "token": SECRET,
                                                                           "extra": SECRET}}})
    assert SECRET not in message and "nats.auth.extra" in message


def test_kinds_filter_skips_other_kinds_without_resolving_their_secrets(tmp_path):
    write(tmp_path, "push.yaml", {"type": "alertmanager-v2", "auth": "none"})
    write(tmp_path, "bus.yaml", {**NATS, "nats": {**NATS["nats"], "auth": {"type": "token", "token_env": "UNSET"}}})
    assert [s.name for s in load_sources(tmp_path, environ={}, kinds=("push",))] == ["push"]
    with pytest.raises(SourceError, match="UNSET is not set"):
        load_sources(tmp_path, environ={}, kinds=("poll", "stream"))
    with pytest.raises(SourceError, match="no poll source files"):
        load_sources(tmp_path, environ={}, kinds=("poll",))


def test_names_are_unique_across_kinds_and_only_push_sources_have_paths(tmp_path):
    write(tmp_path, "a.yaml", {"name": "same", "type": "alertmanager-v2", "auth": "none"})
    write(tmp_path, "b.yaml", {**KUBE, "name": "same"})
    with pytest.raises(SourceError, match="source name 'same' is used by both"):
        load_sources(tmp_path)
