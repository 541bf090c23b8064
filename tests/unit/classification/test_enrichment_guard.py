"""The enrichment guard without a network: which addresses a lookup may reach, which hosts a workflow
may call, the response size cap, and credentials kept out of every message and log line."""

from __future__ import annotations

import asyncio
import gzip
import logging
import sys

import httpx
import pytest

from pipeline.classification.config import ClassificationFileError, parse_classification_file
from pipeline.enrichment.egress import refusal
from pipeline.enrichment.engine import Enricher
from tests.unit.classification.test_enrichment import alert


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
    ("192.168.1.1", "private"), ("fd12::1", "private"), ("169.254.10.1", "link-local"), ("fe80::1%eth0", "link-local"),
    ("169.254.169.254", "a cloud metadata address"), ("fd00:ec2::254", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"), ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"),
    ("100.64.0.1", "not globally routable"),
    ("::ffff:127.0.0.1", "loopback"),      # IPv4-mapped
    ("64:ff9b::a00:1", "private"),         # NAT64 of 10.0.0.1
    ("2002:7f00:1::", "loopback"),         # 6to4 of 127.0.0.1
    ("93.184.216.34", None), ("2606:4700::1111", None),
])
def test_addresses_a_lookup_may_not_reach(address, why):
    assert refusal(address) == why


def test_allowed_networks_open_exactly_what_they_list_and_metadata_only_by_name():
    import ipaddress

    internal = [ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("169.254.0.0/16")]
    assert refusal("10.20.3.4", internal) is None and refusal("10.21.0.1", internal) == "private"
    assert refusal("169.254.10.1", internal) is None
    assert refusal("169.254.169.254", internal) == "a cloud metadata address"  # not by a wider network
    assert refusal("169.254.169.254", [ipaddress.ip_network("169.254.169.254/32")]) is None


def workflows(text):
    return parse_classification_file(text, "wf.yaml").workflows


@pytest.mark.parametrize("url", ["https://{{ labels.host }}/status", "https://cmdb{{ labels.zone }}",
                                 "{{ labels.url }}", "https://{{ labels.user }}@cmdb.example/"])
def test_a_host_from_the_alert_needs_allowed_hosts(url):
    with pytest.raises(ClassificationFileError, match="takes its host from the alert; list the hosts"):
        workflows(f"workflows: [{{name: w, actions: [{{type: http, url: '{url}'}}]}}]")


@pytest.mark.parametrize("bad", ["https://x.example", "x.example:443", "a.*.example", "x/y"])
def test_allowed_hosts_are_host_names(bad):
    with pytest.raises(ClassificationFileError, match="a host name only"):
        workflows(f"workflows: [{{name: w, allowed_hosts: ['{bad}'], actions: [{{type: annotations, annotations: {{a: b}}}}]}}]")


def run_one(text, handler, **labels):
    calls = []

    def record(request):
        calls.append(request)
        return handler(request)

    enricher = Enricher(workflows(text), transport=httpx.MockTransport(record))
    try:
        out = asyncio.run(enricher.enrich(alert(**labels)))
    finally:
        asyncio.run(enricher.close())
    return out, calls


def ok(request):
    return httpx.Response(200, json={"owner": "dba"})


HOSTS = """workflows:
  - name: w
    allowed_hosts: ['*.internal', 'cmdb.example']
    actions: [{type: http, url: 'https://{{ labels.host }}/api', result: {owner: owner}}]
"""


@pytest.mark.parametrize(("host", "reached"), [
    ("db.internal", "db.internal"), ("cmdb.example", "cmdb.example"), ("CMDB.Example.", "cmdb.example"),
    ("internal", None), ("evil.com", None), ("db.internal.evil.com", None),
    ("cmdb.example@evil.com", None),       # userinfo trick: the host is evil.com
    ("cmdb.example:8443", "cmdb.example"),  # any port of an allowed host
    ("127.0.0.1", None),
])
def test_only_allowed_hosts_are_called(host, reached):
    out, calls = run_one(HOSTS, ok, host=host)
    if reached is None:
        assert calls == [] and len(out.enrichment_errors) == 1
        assert "refused:" in out.enrichment_errors[0] and "allowed_hosts" in out.enrichment_errors[0]
    else:
        assert [c.url.host.rstrip(".") for c in calls] == [reached] and out.alert.annotations["owner"] == "dba"


def test_the_host_written_in_the_url_is_allowed_and_a_label_cannot_extend_it():
    text = """workflows:
  - name: w
    actions: [{type: http, url: 'https://cmdb.example/hosts/{{ labels.host }}', result: {owner: owner}}]
"""
    out, calls = run_one(text, ok, host="db-1")
    assert out.alert.annotations["owner"] == "dba" and str(calls[0].url) == "https://cmdb.example/hosts/db-1"
    glued = """workflows:
  - name: w
    allowed_hosts: [cmdb.example]
    actions: [{type: http, url: 'https://cmdb.example{{ labels.rest }}'}]
"""
    out, calls = run_one(glued, ok, rest=".evil.com/x")
    assert calls == [] and "refused: cmdb.example.evil.com is neither" in out.enrichment_errors[0]


def sized(cap):
    return f"""workflows:
  - name: w
    actions: [{{type: http, url: 'https://svc.example/x', max_response_bytes: {cap}}}]
"""


class Chunks(httpx.AsyncByteStream):
    """A body sent without Content-Length."""

    def __init__(self, *chunks):
        self.chunks = chunks

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk


BOMB = gzip.compress(b'{"a": "' + b"0" * 10_000_000 + b'"}')  # 10 MB in ~10 KB


@pytest.mark.parametrize(("cap", "response", "fragment"), [
    (1000, httpx.Response(200, content=b'{"a": "' + b"x" * 5000 + b'"}'), "is 5009 bytes, over max_response_bytes (1000)"),
    (1000, httpx.Response(200, stream=Chunks(b'{"a": "', b"x" * 600, b"x" * 600, b'"}')),
     "over max_response_bytes (1000); cut off"),
    (100_000, httpx.Response(200, headers={"content-encoding": "gzip", "content-length": str(len(BOMB))},
                             content=BOMB), "over max_response_bytes (100000); cut off"),
])
def test_answers_over_the_size_cap_are_cut_off(cap, response, fragment):
    assert len(BOMB) < 100_000
    out, _ = run_one(sized(cap), lambda request: response)
    assert len(out.enrichment_errors) == 1 and fragment in out.enrichment_errors[0], out.enrichment_errors
    assert "a" not in out.alert.annotations


CREDENTIALS = """workflows:
  - name: w
    actions:
      - {type: http, url: 'https://svc.example/x?api_key=k3yk3yk3y&q={{ labels.alertname }}',
         headers: {Authorization: 'Bearer s3cr3t-t0ken', X-Api-Key: 'h3ad3r-k3y', Accept: application/json}}
  - name: u
    actions: [{type: http, url: 'https://bob:pa55w0rd@svc.example/y'}]
"""
SECRETS = ("pa55w0rd", "bob:", "k3yk3yk3y", "s3cr3t-t0ken", "h3ad3r-k3y", "Ym9iOnBhNTV3MHJk")


def leaked(text):
    return [s for s in SECRETS if s in text]


@pytest.mark.parametrize("failure", [
    lambda request: httpx.Response(503),
    # An error whose text repeats what was sent (as some do): the secrets are scrubbed out of it.
    lambda request: (_ for _ in ()).throw(httpx.ConnectError(
        f"cannot reach {request.url} with {request.headers['authorization']} {request.headers.get('x-api-key')}")),
    lambda request: (_ for _ in ()).throw(RuntimeError(f"bug near {request.headers['authorization']} for {request.url}")),
])
def test_credentials_never_reach_an_enrichment_error_or_a_log_line(failure, caplog):
    caplog.set_level(logging.DEBUG, logger="pipeline.enrichment")
    out, calls = run_one(CREDENTIALS, failure)
    # They were sent (the basic auth from the URL's user and password, as httpx sends it) ...
    assert [c.headers["authorization"] for c in calls] == ["Bearer s3cr3t-t0ken", "Basic Ym9iOnBhNTV3MHJk"]
    # ... and no message repeats them, even those whose text did.
    assert len(out.enrichment_errors) == 2
    assert "svc.example/x" in out.enrichment_errors[0] and "svc.example/y" in out.enrichment_errors[1]
    assert leaked(" ".join(out.enrichment_errors)) == [], out.enrichment_errors
    assert leaked(caplog.text) == [], caplog.text


def test_a_scripts_environment_never_reaches_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CMDB_TOKEN", "t0k3n-fr0m-env")
    script = tmp_path / "s.py"
    script.write_text("import os, sys; sys.stderr.write('auth failed with ' + os.environ['CMDB_TOKEN']); sys.exit(2)")
    enricher = Enricher(workflows(f"""workflows:
  - name: s
    actions: [{{type: script, command: ['{sys.executable}', '{script}'], env: [CMDB_TOKEN]}}]
"""))
    out = asyncio.run(enricher.enrich(alert()))
    assert out.enrichment_errors == [f"s/0 script: {sys.executable} exited with 2: auth failed with <secret>"]
