from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from pipeline.bridge.sources import (
    MIB,
    BearerAuth,
    HmacAuth,
    NoAuth,
    Source,
    SourceError,
    SourceRegistry,
    load_source,
    load_sources,
)
from pipeline.paths import DEPLOY_DIR

EXAMPLES = DEPLOY_DIR / "local" / "sources"
SECRET = "s3cr3t-VALUE-that-must-never-leak"


def write(directory: Path, filename: str, document) -> Path:
    path = directory / filename
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def load_error(tmp_path: Path, document, environ=None, filename="src.yaml") -> str:
    path = write(tmp_path, filename, document)
    with pytest.raises(SourceError) as caught:
        load_source(path, environ=environ or {})
    return str(caught.value)


# --- what a valid file becomes ---------------------------------------------------------------------


@pytest.mark.parametrize("source_type, path", [
    ("alertmanager-v2", "/api/v2/alerts"),
    ("alertmanager-webhook", "/api/v1/webhooks/alertmanager"),
    ("grafana", "/api/v1/webhooks/grafana"),
])
def test_default_path_per_type(tmp_path, source_type, path):
    source = load_source(write(tmp_path, "s.yaml", {"type": source_type, "auth": "none"}))
    assert source.path == path


def test_generic_default_path_carries_the_name(tmp_path):
    source = load_source(write(tmp_path, "shop.yaml", {"type": "generic", "auth": "none", "mapping": {}}))
    assert source.path == "/api/v1/webhooks/generic/shop"
    assert source.mapping == {}


def test_minimal_file_gets_every_default(tmp_path):
    file = write(tmp_path, "prom-1.yaml", {"type": "alertmanager-v2", "auth": "none"})
    source = load_source(file)
    assert source.name == "prom-1"  # the file stem
    assert source.file == file and source.origin == str(file)
    assert isinstance(source.auth, NoAuth)
    assert source.limits.max_body_bytes == MIB == 1048576
    assert source.limits.max_alerts == 1000
    assert source.limits.rate_limit is None
    assert source.resolve_timeout is None and source.enabled is True and source.mapping is None


def test_full_file(tmp_path):
    source = load_source(write(tmp_path, "file-name.yaml", {
        "name": "edge_1", "type": "grafana", "path": "/hooks/grafana-edge",
        "auth": {"type": "hmac", "secret": SECRET, "header": "X-Sig", "algorithm": "sha512",
                 "encoding": "base64", "prefix": "", "timestamp_header": "X-Ts", "tolerance": "90s"},
        "limits": {"max_body_bytes": 2048, "max_alerts": 5,
                   "rate_limit": {"requests_per_second": 0.5, "burst": 3}},
        "resolve_timeout": "1h30m", "enabled": False,
    }))
    assert source.name == "edge_1" and source.path == "/hooks/grafana-edge"
    auth = source.auth
    assert isinstance(auth, HmacAuth)
    assert auth.secret.get_secret_value() == SECRET.encode()
    assert (auth.header, auth.algorithm, auth.encoding, auth.prefix) == ("X-Sig", "sha512", "base64", "")
    assert auth.tolerance == timedelta(seconds=90)
    assert auth.signed_payload == "{timestamp}.{body}"
    assert source.limits.rate_limit.requests_per_second == 0.5 and source.limits.rate_limit.burst == 3
    assert source.resolve_timeout == timedelta(hours=1, minutes=30)
    assert source.enabled is False


def test_hmac_defaults_without_timestamp():
    auth = Source(name="s", type="grafana", auth={"type": "hmac", "secret": SECRET}).auth
    assert (auth.header, auth.algorithm, auth.encoding, auth.prefix) == ("X-Signature", "sha256", "hex", "sha256=")
    assert auth.timestamp_header is None and auth.signed_payload == "{body}"
    assert auth.tolerance == timedelta(minutes=5)


def test_signed_bytes_follow_the_template():
    auth = Source(name="s", type="grafana", auth={
        "type": "hmac", "secret": SECRET, "timestamp_header": "X-Ts", "signed_payload": "v0:{timestamp}:{body}"}).auth
    assert auth.signed_bytes(b'{"a":1}', "1700000000") == b'v0:1700000000:{"a":1}'


def test_auth_none_may_also_be_written_as_a_mapping():
    assert isinstance(Source(name="s", type="grafana", auth={"type": "none"}).auth, NoAuth)


def test_source_constructor_works_without_a_file():
    source = Source(name="direct", type="alertmanager-webhook", auth={"type": "bearer", "tokens": ["t1", "t2"]})
    assert source.file is None and source.origin == "source 'direct'"
    assert [t.get_secret_value() for t in source.auth.tokens] == ["t1", "t2"]


def test_yml_suffix_is_accepted_and_dotfiles_and_other_files_are_skipped(tmp_path):
    write(tmp_path, "a.yml", {"type": "grafana", "auth": "none"})
    write(tmp_path, ".b.yaml", "this: [is not even valid")  # an editor's swap file, say
    write(tmp_path, "README.md", "# notes")
    registry = load_sources(tmp_path)
    assert [s.name for s in registry.all()] == ["a"]


# --- every configuration error names the file and the key ----------------------------------------

BEARER = {"type": "bearer", "tokens": ["tok"]}
HMAC = {"type": "hmac", "secret": "k"}


def with_auth(**auth):
    return {"type": "grafana", "auth": auth}


CONFIG_ERRORS = [
    # (document, key named in the message, words of the message)
    ({"type": "grafana", "auth": "none", "bogus": 1}, "bogus", "Extra inputs are not permitted"),
    ({"type": "grafna", "auth": "none"}, "type", "push types: alertmanager-v2, alertmanager-webhook, grafana, generic"),
    ({"auth": "none"}, "type", "Field required"),
    ({"type": "grafana"}, "auth", "write `auth: none`"),
    ({"type": "grafana", "auth": None}, "auth", "write `auth: none`"),
    ({"type": "grafana", "auth": "open"}, "auth", "must be `none` or a mapping"),
    ({"type": "grafana", "auth": {"type": "basic"}}, "auth", "does not match any of the expected tags"),
    ({"type": "grafana", "auth": {"tokens": ["t"]}}, "auth", "discriminator 'type'"),
    ({"type": "grafana", "auth": ["none"]}, "auth", "Input should be a valid dictionary"),
    ({"type": "grafana", "auth": "none", "name": "Grafana"}, "name", "lower case letters"),
    ({"type": "grafana", "auth": "none", "name": "-x"}, "name", "lower case letters"),
    ({"type": "grafana", "auth": "none", "path": "api/v2"}, "path", "absolute URL path"),
    ({"type": "grafana", "auth": "none", "path": "/api/"}, "path", "trailing /"),
    ({"type": "grafana", "auth": "none", "path": "/api?x=1"}, "path", "without query"),
    ({"type": "grafana", "auth": "none", "path": "/api/{name}"}, "path", "placeholder"),
    ({"type": "grafana", "auth": "none", "enabled": "yes"}, "enabled", "valid boolean"),
    ({"type": "grafana", "auth": "none", "resolve_timeout": "5 minutes"}, "resolve_timeout", "not a valid duration"),
    ({"type": "grafana", "auth": "none", "resolve_timeout": "0"}, "resolve_timeout", "longer than 0s"),
    ({"type": "grafana", "auth": "none", "resolve_timeout": 300}, "resolve_timeout", "duration string"),
    ({"type": "grafana", "auth": "none", "mapping": {"a": 1}}, "mapping", "only allowed for type generic"),
    ({"type": "generic", "auth": "none"}, "mapping", "required for type generic"),
    ({"type": "generic", "auth": "none", "mapping": ["a"]}, "mapping", "valid dictionary"),
    ({"type": "grafana", "auth": "none", "limits": {"max_body": 1}}, "limits.max_body", "Extra inputs"),
    ({"type": "grafana", "auth": "none", "limits": {"max_body_bytes": 0}}, "limits.max_body_bytes", "greater than or equal to 1"),
    ({"type": "grafana", "auth": "none", "limits": {"max_body_bytes": 1.5}}, "limits.max_body_bytes", "valid integer"),
    ({"type": "grafana", "auth": "none", "limits": {"max_alerts": "many"}}, "limits.max_alerts", "valid integer"),
    ({"type": "grafana", "auth": "none", "limits": {"rate_limit": {"burst": 1}}},
     "limits.rate_limit.requests_per_second", "Field required"),
    ({"type": "grafana", "auth": "none", "limits": {"rate_limit": {"requests_per_second": 1}}},
     "limits.rate_limit.burst", "Field required"),
    ({"type": "grafana", "auth": "none", "limits": {"rate_limit": {"requests_per_second": 0, "burst": 1}}},
     "limits.rate_limit.requests_per_second", "greater than 0"),
    ({"type": "grafana", "auth": "none", "limits": {"rate_limit": {"requests_per_second": True, "burst": 1}}},
     "limits.rate_limit.requests_per_second", "valid number"),
    ({"type": "grafana", "auth": "none", "limits": {"rate_limit": {"requests_per_second": 1, "burst": 0}}},
     "limits.rate_limit.burst", "greater than or equal to 1"),
    ({"type": "grafana", "auth": "none", "limits": {"rate_limit": {"requests_per_second": float("inf"), "burst": 1}}},
     "limits.rate_limit.requests_per_second", "finite number"),
    # bearer
    (with_auth(type="bearer"), "auth", "at least one token"),
    (with_auth(type="bearer", tokens=[]), "auth", "at least one token"),
    (with_auth(type="bearer", tokens=None), "auth", "at least one token"),
    (with_auth(type="bearer", tokens="tok"), "auth", "tokens must be a list"),
    (with_auth(type="bearer", tokens=["ok", ""]), "auth.tokens", "token 1 is empty"),
    (with_auth(type="bearer", tokens=["two words"]), "auth.tokens", "token 0 contains whitespace"),
    (with_auth(type="bearer", tokens=[12345]), "auth.tokens[0]", "valid string"),
    (with_auth(type="bearer", tokens=[["nested"]]), "auth.tokens[0]", "valid string"),
    (with_auth(type="bearer", tokens=["t"], secret="x"), "auth.secret", "Extra inputs"),
    (with_auth(type="bearer", token_env=123), "auth", "token_env must be an environment variable name"),
    (with_auth(type="bearer", token_env={"nam": "X"}), "auth", "token_env must be"),
    (with_auth(type="bearer", token_env="NOT-A-NAME"), "auth", "token_env must name an environment variable"),
    (with_auth(type="bearer", token_env={"name": "T", "default": 5}), "auth", "token_env.default must be a string"),
    # hmac
    (with_auth(type="hmac"), "auth", "needs secret or secret_env"),
    (with_auth(type="hmac", secret="k", secret_env="K"), "auth", "either secret or secret_env"),
    (with_auth(type="hmac", secret=""), "auth.secret", "secret is empty"),
    (with_auth(**HMAC, algorithm="md5"), "auth.algorithm", "'sha256', 'sha512' or 'sha1'"),
    (with_auth(**HMAC, encoding="base32"), "auth.encoding", "'hex' or 'base64'"),
    (with_auth(**HMAC, header="X Sig"), "auth.header", "not a valid HTTP header name"),
    (with_auth(**HMAC, timestamp_header="X:Ts"), "auth.timestamp_header", "not a valid HTTP header name"),
    (with_auth(**HMAC, timestamp_header="X-Ts", tolerance="soon"), "auth.tolerance", "not a valid duration"),
    (with_auth(**HMAC, timestamp_header="X-Ts", tolerance="0"), "auth.tolerance", "longer than 0s"),
    (with_auth(**HMAC, signed_payload="{timestamp}"), "auth", "must contain {body} exactly once"),
    (with_auth(**HMAC, signed_payload="{body}{body}"), "auth", "must contain {body} exactly once"),
    (with_auth(**HMAC, signed_payload="{timestamp}.{body}"), "auth", "no timestamp_header is set"),
    (with_auth(**HMAC, timestamp_header="X-Ts", signed_payload="{body}"), "auth", "must contain {timestamp}"),
    (with_auth(**HMAC, signed_payload="{id}.{body}"), "auth", "only use the placeholders"),
    (with_auth(**HMAC, header="X-Sig", timestamp_header="x-sig"), "auth", "must be different headers"),
    (with_auth(**HMAC, hedaer="X-Sig"), "auth.hedaer", "Extra inputs"),
]


@pytest.mark.parametrize("document, key, words", CONFIG_ERRORS, ids=[f"{i}-{c[1]}" for i, c in enumerate(CONFIG_ERRORS)])
def test_config_error_names_file_and_key(tmp_path, document, key, words):
    message = load_error(tmp_path, document, filename="broken-source.yaml")
    path = str(tmp_path / "broken-source.yaml")
    matching = [line for line in message.splitlines() if line.startswith(f"{path}: {key}: ")]
    assert matching, message
    assert any(words in line for line in matching), message


def test_name_taken_from_an_unusable_file_name_says_so(tmp_path):
    message = load_error(tmp_path, {"type": "grafana", "auth": "none"}, filename="My Source.yaml")
    assert "My Source.yaml: name: 'My Source' must be lower case" in message
    assert "taken from the file name" in message


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    message = load_error(tmp_path, {"type": "nope", "limits": {"max_alerts": 0}})
    lines = message.splitlines()
    assert len(lines) == 3
    assert {line.split(": ")[1] for line in lines} == {"type", "auth", "limits.max_alerts"}


@pytest.mark.parametrize("text, words", [
    ("", "the file is empty"),
    ("# only a comment\n", "the file is empty"),
    ("- type: grafana\n", "expected a mapping"),
    ("just a string\n", "expected a mapping"),
    ("type: grafana\nauth: [none\n", "not valid YAML at line"),
])
def test_unusable_files(tmp_path, text, words):
    message = load_error(tmp_path, text)
    assert message.startswith(str(tmp_path / "src.yaml") + ": ") and words in message


def test_unreadable_file_is_named(tmp_path):
    with pytest.raises(SourceError, match="missing.yaml: cannot read"):
        load_source(tmp_path / "missing.yaml")


def test_directory_errors(tmp_path):
    with pytest.raises(SourceError, match="no such sources directory"):
        load_sources(tmp_path / "absent")
    with pytest.raises(SourceError, match="no source files"):
        load_sources(tmp_path)
    write(tmp_path, "notes.txt", "type: grafana")
    with pytest.raises(SourceError, match="no source files"):
        load_sources(tmp_path)


def test_every_broken_file_of_a_directory_is_reported(tmp_path):
    write(tmp_path, "good.yaml", {"type": "grafana", "auth": "none"})
    write(tmp_path, "bad-one.yaml", {"type": "grafana"})
    write(tmp_path, "bad-two.yaml", {"type": "generic", "auth": "none"})
    with pytest.raises(SourceError) as caught:
        load_sources(tmp_path)
    message = str(caught.value)
    assert f"{tmp_path / 'bad-one.yaml'}: auth: required" in message
    assert f"{tmp_path / 'bad-two.yaml'}: mapping: required" in message
    assert "good.yaml" not in message


# --- duplicates and lookup -------------------------------------------------------------------------


def test_duplicate_names_name_both_files(tmp_path):
    write(tmp_path, "a.yaml", {"name": "same", "type": "grafana", "auth": "none"})
    write(tmp_path, "b.yaml", {"name": "same", "type": "alertmanager-v2", "auth": "none"})
    with pytest.raises(SourceError) as caught:
        load_sources(tmp_path)
    assert str(caught.value) == f"source name 'same' is used by both {tmp_path / 'a.yaml'} and {tmp_path / 'b.yaml'}"


def test_duplicate_paths_name_both_files(tmp_path):
    write(tmp_path, "prom-a.yaml", {"type": "alertmanager-v2", "auth": "none"})
    write(tmp_path, "prom-b.yaml", {"type": "alertmanager-v2", "auth": "none"})
    with pytest.raises(SourceError) as caught:
        load_sources(tmp_path)
    assert str(caught.value) == (
        f"path /api/v2/alerts is claimed by both {tmp_path / 'prom-a.yaml'} and {tmp_path / 'prom-b.yaml'}")


def test_an_explicit_path_may_collide_with_another_types_default(tmp_path):
    write(tmp_path, "grafana.yaml", {"type": "grafana", "auth": "none"})
    write(tmp_path, "custom.yaml", {"type": "generic", "auth": "none", "mapping": {},
                                    "path": "/api/v1/webhooks/grafana"})
    with pytest.raises(SourceError, match="path /api/v1/webhooks/grafana is claimed by both"):
        load_sources(tmp_path)


def test_a_disabled_source_yields_its_path_but_keeps_its_name(tmp_path):
    write(tmp_path, "old.yaml", {"type": "alertmanager-v2", "auth": "none", "enabled": False})
    write(tmp_path, "new.yaml", {"type": "alertmanager-v2", "auth": {"type": "bearer", "tokens": ["t"]}})
    registry = load_sources(tmp_path)
    assert registry.for_path("/api/v2/alerts").name == "new"
    assert registry.get("old").enabled is False
    assert [s.name for s in registry.all()] == ["new", "old"]
    assert len(registry) == 2 and [s.name for s in registry] == ["new", "old"]


def test_for_path_is_exact_and_ignores_disabled_sources():
    registry = SourceRegistry([
        Source(name="prom", type="alertmanager-v2", auth="none"),
        Source(name="off", type="grafana", auth="none", enabled=False),
    ])
    assert registry.for_path("/api/v2/alerts").name == "prom"
    assert registry.for_path("/api/v2/alerts/") is None
    assert registry.for_path("/API/v2/alerts") is None
    assert registry.for_path("/api/v1/webhooks/grafana") is None
    assert registry.get("nope") is None
    assert "prom=/api/v2/alerts" in repr(registry)


def test_registry_built_in_code_names_sources_in_duplicates():
    with pytest.raises(SourceError, match="source name 'x' is used by both source 'x' and source 'x'"):
        SourceRegistry([Source(name="x", type="grafana", auth="none"),
                        Source(name="x", type="alertmanager-v2", auth="none")])


# --- secrets from the environment ------------------------------------------------------------------


def test_token_env_tokens_env_and_inline_tokens_combine_env_first(tmp_path):
    source = load_source(write(tmp_path, "s.yaml", with_auth(
        type="bearer", token_env="ONE", tokens_env="MANY", tokens=["inline"])),
        environ={"ONE": " first\n", "MANY": "second, third,,"})
    assert [t.get_secret_value() for t in source.auth.tokens] == ["first", "second", "third", "inline"]


def test_secret_env(tmp_path):
    source = load_source(write(tmp_path, "s.yaml", with_auth(type="hmac", secret_env="HOOK_SECRET")),
                         environ={"HOOK_SECRET": SECRET})
    assert source.auth.secret.get_secret_value() == SECRET.encode()


@pytest.mark.parametrize("auth, variable, key", [
    ({"type": "bearer", "token_env": "BRIDGE_TOKEN"}, "BRIDGE_TOKEN", "token_env"),
    ({"type": "bearer", "tokens_env": "BRIDGE_TOKENS"}, "BRIDGE_TOKENS", "tokens_env"),
    ({"type": "hmac", "secret_env": "HOOK_SECRET"}, "HOOK_SECRET", "secret_env"),
    ({"type": "hmac", "secret_env": {"name": "HOOK_SECRET"}}, "HOOK_SECRET", "secret_env"),
])
def test_missing_environment_variable_names_file_and_variable(tmp_path, auth, variable, key):
    message = load_error(tmp_path, {"type": "grafana", "auth": auth}, environ={"OTHER": "x"})
    assert message == f"{tmp_path / 'src.yaml'}: auth: {key}: environment variable {variable} is not set (or is empty)"


def test_an_empty_environment_variable_counts_as_missing(tmp_path):
    message = load_error(tmp_path, with_auth(type="bearer", token_env="T"), environ={"T": "  "})
    assert "environment variable T is not set" in message


def test_tokens_env_with_only_separators_is_an_error(tmp_path):
    message = load_error(tmp_path, with_auth(type="bearer", tokens_env="T"), environ={"T": " , ,"})
    assert "auth: tokens_env holds no tokens" in message


def test_env_default_applies_only_when_the_variable_is_unset(tmp_path):
    file = write(tmp_path, "s.yaml", with_auth(type="bearer", token_env={"name": "T", "default": "demo"}))
    assert load_source(file, environ={}).auth.tokens[0].get_secret_value() == "demo"
    assert load_source(file, environ={"T": "real"}).auth.tokens[0].get_secret_value() == "real"


def test_the_process_environment_is_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("BRIDGE_TEST_TOKEN", "from-process-env")
    file = write(tmp_path, "s.yaml", with_auth(type="bearer", token_env="BRIDGE_TEST_TOKEN"))
    assert load_source(file).auth.tokens[0].get_secret_value() == "from-process-env"
    source = Source(name="s", type="grafana", auth={"type": "bearer", "token_env": "BRIDGE_TEST_TOKEN"})
    assert source.auth.tokens[0].get_secret_value() == "from-process-env"


# --- secrets never show ----------------------------------------------------------------------------


def test_secrets_are_not_in_repr_str_or_json():
    for auth in ({"type": "bearer", "tokens": [SECRET]}, {"type": "hmac", "secret": SECRET}):
        source = Source(name="s", type="grafana", auth=auth)
        for text in (repr(source), str(source), repr(source.auth), source.model_dump_json()):
            assert SECRET not in text
            assert "**********" in text


def test_secrets_are_not_in_error_messages(tmp_path):
    documents = [
        # A secret next to an unrelated mistake.
        {"type": "grafana", "auth": {"type": "bearer", "tokens": [SECRET]}, "limits": {"max_alerts": 0}},
        # A secret pasted where a keyword belongs.
        {"type": "grafana", "auth": SECRET},
        # A secret under a misspelt key, or in a key that does not fit the auth type.
        {"type": "grafana", "auth": {"type": "hmac", "secert": SECRET}},
        {"type": "grafana", "auth": {"type": "bearer", "tokens": ["t"], "secret": SECRET}},
        # A secret that is itself invalid.
        {"type": "grafana", "auth": {"type": "bearer", "tokens": [SECRET + " x"]}},
        {"type": "grafana", "auth": {"type": "bearer", "tokens": SECRET}},
        # An environment reference whose default is the secret, next to a failing lookup.
        {"type": "grafana", "auth": {"type": "bearer", "token_env": {"name": "X", "default": 1},
                                     "tokens": [SECRET]}},
    ]
    for document in documents:
        assert SECRET not in load_error(tmp_path, document)
    # YAML errors normally quote the offending line.
    broken = f"type: grafana\nauth: {{type: bearer, tokens: [{SECRET}\n"
    message = load_error(tmp_path, broken)
    assert "not valid YAML" in message and SECRET not in message


# --- the shipped examples --------------------------------------------------------------------------


def test_shipped_examples_load_without_any_environment():
    registry = load_sources(EXAMPLES, environ={})
    by_name = {s.name: s for s in registry.all()}
    assert set(by_name) == {"prometheus", "alertmanager", "grafana", "generic-example"}
    assert registry.for_path("/api/v2/alerts").name == "prometheus"
    assert isinstance(by_name["prometheus"].auth, NoAuth)
    assert by_name["alertmanager"].type == "alertmanager-webhook"
    assert isinstance(by_name["alertmanager"].auth, BearerAuth)
    grafana = by_name["grafana"].auth
    assert isinstance(grafana, HmacAuth)
    assert grafana.header == "X-Grafana-Alerting-Signature" and grafana.timestamp_header
    generic = by_name["generic-example"]
    assert generic.type == "generic" and generic.mapping
    assert registry.for_path("/api/v1/webhooks/generic/generic-example") is generic
    assert all(s.enabled for s in registry.all())


def test_shipped_alertmanager_token_comes_from_the_environment_when_set():
    registry = load_sources(EXAMPLES, environ={"ALERTMANAGER_BRIDGE_TOKEN": "prod-token"})
    tokens = registry.get("alertmanager").auth.tokens
    assert [t.get_secret_value() for t in tokens] == ["prod-token"]


def test_shipped_demo_secrets_say_they_are_demo_only():
    for file in EXAMPLES.glob("*.yaml"):
        text = file.read_text()
        if "default:" in text or "secret:" in text or "tokens: [" in text:
            assert "DEMO ONLY" in text, file
