"""Enrichment lookups over real sockets (a local HTTP server on loopback, names resolved by a resolver
the test controls): an address is checked on the connection itself, refused unless the workflow
allows its network, and every new connection is checked again, so DNS rebinding gets nowhere.
Nothing here connects anywhere but 127.0.0.1: refused addresses are refused before any connect."""

from __future__ import annotations

import asyncio

import pytest
from pytest_httpserver import HTTPServer

from pipeline.classification.config import parse_classification_file
from pipeline.enrichment.engine import Enricher
from tests.unit.classification.test_enrichment import alert

pytestmark = pytest.mark.timeout(60)


class Resolver:
    """Names to address lists, one list per call in turn (the last one repeats); records the calls."""

    def __init__(self, answers: dict[str, list[list[str]]]):
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        turns = self.answers[host]
        return turns[min(self.calls.count(host), len(turns)) - 1]


def enrich(text: str, resolver: Resolver, *alerts):
    async def scenario():
        enricher = Enricher(parse_classification_file(text, "wf.yaml").workflows, resolver=resolver)
        try:
            return [await enricher.enrich(a) for a in alerts]
        finally:
            await enricher.close()
    return asyncio.run(scenario())


def workflow(port: int, extra: str = "", url: str = "") -> str:
    url = url or f"http://cmdb.test:{port}/hosts/{{{{ labels.host }}}}"
    return f"""workflows:
  - name: cmdb
{extra}    actions: [{{type: http, url: '{url}', cache_ttl_s: 0, result: {{owner: owner}}}}]
"""


@pytest.fixture
def cmdb(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/hosts/db-1").respond_with_json({"owner": "dba"}, headers={"Connection": "close"})
    return httpserver


def test_a_name_that_resolves_to_loopback_is_refused_before_connecting(cmdb):
    resolver = Resolver({"cmdb.test": [["127.0.0.1"]]})
    [out] = enrich(workflow(cmdb.port), resolver, alert(host="db-1"))
    assert out.enrichment_errors == [
        f"cmdb/0 http: GET http://cmdb.test:{cmdb.port}/hosts/db-1: refused: cmdb.test resolves to 127.0.0.1 "
        "(loopback); a workflow reaches such an address only when its allowed_networks lists it"]
    assert cmdb.log == []  # no request reached the server


def test_an_allowed_network_is_reached_with_the_name_as_host_header(cmdb):
    resolver = Resolver({"cmdb.test": [["127.0.0.1"]]})
    [out] = enrich(workflow(cmdb.port, "    allowed_networks: ['127.0.0.0/8']\n"), resolver, alert(host="db-1"))
    assert out.enrichment_errors == [] and out.alert.annotations["owner"] == "dba"
    [(request, _response)] = cmdb.log
    assert request.headers["Host"] == f"cmdb.test:{cmdb.port}"
    assert resolver.calls == ["cmdb.test"]


def test_every_new_connection_is_checked_again_so_a_rebound_name_is_refused(cmdb):
    # First answer passes (an allowed address), the next points at the metadata service: the second
    # lookup (a new connection: the server closes each one) is refused without connecting there.
    resolver = Resolver({"cmdb.test": [["127.0.0.1"], ["169.254.169.254"]]})
    first, second = enrich(workflow(cmdb.port, "    allowed_networks: ['127.0.0.0/8', '169.254.0.0/16']\n"),
                           resolver, alert(host="db-1"), alert(host="db-1"))
    assert first.enrichment_errors == [] and first.alert.annotations["owner"] == "dba"
    assert second.enrichment_errors == [
        f"cmdb/0 http: GET http://cmdb.test:{cmdb.port}/hosts/db-1: refused: cmdb.test resolves to 169.254.169.254 "
        "(a cloud metadata address); a workflow reaches such an address only when its allowed_networks lists it"]
    assert resolver.calls == ["cmdb.test", "cmdb.test"] and len(cmdb.log) == 1


def test_one_refused_address_among_several_refuses_the_host(cmdb):
    resolver = Resolver({"cmdb.test": [["127.0.0.1", "10.0.0.7"]]})
    [out] = enrich(workflow(cmdb.port, "    allowed_networks: ['127.0.0.0/8']\n"), resolver, alert(host="db-1"))
    assert "resolves to 10.0.0.7 (private)" in out.enrichment_errors[0] and cmdb.log == []


def test_an_ip_literal_is_checked_like_a_name(cmdb):
    resolver = Resolver({"127.0.0.1": [["127.0.0.1"]]})
    url = f"http://127.0.0.1:{cmdb.port}/hosts/{{{{ labels.host }}}}"
    [out] = enrich(workflow(cmdb.port, url=url), resolver, alert(host="db-1"))
    assert "resolves to 127.0.0.1 (loopback)" in out.enrichment_errors[0] and cmdb.log == []
