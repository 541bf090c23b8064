"""connectors.http.AiohttpSender, the sink's HTTP seam, against a local server (pytest-httpserver):
answers come back as httpx.Response, failures as httpx's exceptions, so Connector.deliver and
classify_http see what they saw with httpx.AsyncClient."""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import socket
import time
import warnings

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connectors.base import Connector, ConnectorConfig, OutboundRequest, Outcome, classify_http
from connectors.http import MAX_BODY_BYTES, AiohttpSender
from tests.unit.connectors.factories import context, notification


class Probe(Connector):
    """The default deliver (render, send, classify_http) against any URL."""

    kind = "probe"
    config_model = ConnectorConfig
    threaded = False

    def __init__(self, url: str, method: str = "POST"):
        super().__init__(ConnectorConfig(), receiver="r")
        self.url, self.method = url, method

    def render(self, notification, ctx, thread=None) -> OutboundRequest:
        return OutboundRequest(self.method, self.url, {"User-Agent": "probe"}, json={"id": notification.id})

    def classify(self, response: httpx.Response) -> Outcome:
        return classify_http(self.kind, response)


def run(call, timeout_s: float = 5.0):
    """``await call(sender)`` with a fresh sender, closed afterwards."""
    async def main():
        sender = AiohttpSender(timeout_s=timeout_s, connect_timeout_s=timeout_s, max_connections=4)
        try:
            return await call(sender)
        finally:
            await sender.aclose()

    return asyncio.run(main())


def deliver(url: str, timeout_s: float = 5.0) -> Outcome:
    return run(lambda sender: Probe(url).deliver(notification(), context(sender)), timeout_s)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again: nobody listens there


def test_json_body_and_the_answer_as_httpx_response(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_json(
        {"ok": True, "ts": "1.2"}, status=201, headers={"X-Trace": "abc"})
    response = run(lambda s: s.request("POST", httpserver.url_for("/hook"), headers={"Authorization": "Bearer T"},
                                       json={"text": "disk full é", "n": 1}))
    assert isinstance(response, httpx.Response)
    assert (response.status_code, response.json(), response.headers["x-trace"]) == (201, {"ok": True, "ts": "1.2"}, "abc")
    request, _ = httpserver.log[0]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer T"
    assert json.loads(request.get_data()) == {"text": "disk full é", "n": 1}


def test_content_is_sent_byte_for_byte_with_the_callers_content_type_only(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/signed").respond_with_data("")
    body = b'{"b":2,  "a":1}'
    run(lambda s: s.request("POST", httpserver.url_for("/signed"), content=body,
                            headers={"content-type": "application/json; charset=utf-8"}))
    run(lambda s: s.request("POST", httpserver.url_for("/signed"), content=b"raw"))
    (signed, _), (raw, _) = httpserver.log
    assert signed.get_data() == body and signed.headers.getlist("Content-Type") == ["application/json; charset=utf-8"]
    assert raw.get_data() == b"raw" and "Content-Type" not in raw.headers  # as httpx: no label invented


def test_success_4xx_reason_and_5xx_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/t").respond_with_data("accepted", status=202)
    httpserver.expect_ordered_request("/t").respond_with_data("  invalid routing key\n", status=400)
    httpserver.expect_ordered_request("/t").respond_with_data("busy", status=503, headers={"Retry-After": "7"})
    url = httpserver.url_for("/t")
    assert deliver(url) == Outcome.delivered(202)
    assert deliver(url) == Outcome.permanent("probe: HTTP 400 invalid routing key", 400)
    assert deliver(url) == Outcome.retryable("probe: HTTP 503 busy", 503, 7.0)


def test_redirects_are_not_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/old").respond_with_data("", status=302, headers={"Location": "/new"})
    httpserver.expect_request("/new").respond_with_data("ok")
    outcome = deliver(httpserver.url_for("/old"))
    assert (outcome.kind, outcome.status_code) == ("permanent", 302)
    assert [request.path for request, _ in httpserver.log] == ["/old"]


def test_a_slow_answer_is_a_retryable_timeout(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    started = time.monotonic()
    outcome = deliver(httpserver.url_for("/slow"), timeout_s=0.2)
    assert outcome == Outcome.retryable("probe: timeout (ReadTimeout)")
    assert time.monotonic() - started < 0.9


def test_connection_refused_is_retryable_and_the_reason_names_no_url() -> None:
    outcome = deliver(f"http://127.0.0.1:{closed_port()}/hook/SECRET?token=SECRET")
    assert outcome == Outcome.retryable("probe: transport error (ConnectError: Connection refused)")


@pytest.mark.parametrize("url", ["http://no-such-host.invalid/hook?token=SECRET", "ftp://host/SECRET"])
def test_unresolvable_or_non_http_urls_are_transport_errors_without_the_url(url: str) -> None:
    outcome = deliver(url)
    assert outcome.kind == "retryable" and outcome.reason.startswith("probe: transport error (")
    assert "SECRET" not in outcome.reason and "no-such-host" not in outcome.reason


def test_a_connection_dropped_without_an_answer_is_retryable() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()  # no answer

    async def call(sender: AiohttpSender) -> Outcome:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await Probe(f"http://127.0.0.1:{port}/x?token=SECRET").deliver(notification(), context(sender))

    outcome = run(call)
    assert outcome == Outcome.retryable("probe: transport error (RemoteProtocolError: server disconnected "
                                        "without an answer)")


def test_a_large_body_is_cut_and_the_sender_keeps_working(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big").respond_with_data(b"x" * (4 * MAX_BODY_BYTES), status=500)
    httpserver.expect_request("/small").respond_with_data("fine")

    async def call(sender: AiohttpSender):
        big = await sender.request("GET", httpserver.url_for("/big"))
        small = await sender.request("GET", httpserver.url_for("/small"))
        return big, small

    big, small = run(call)
    assert big.status_code == 500 and big.content == b"x" * MAX_BODY_BYTES
    assert (small.status_code, small.text) == (200, "fine")


def test_a_compressed_body_is_decoded_once(httpserver: HTTPServer) -> None:
    body = gzip.compress(b'{"ok": false, "error": "channel_not_found"}')
    httpserver.expect_request("/api").respond_with_data(
        body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    response = run(lambda s: s.request("POST", httpserver.url_for("/api"), json={}))
    assert response.json() == {"ok": False, "error": "channel_not_found"}


def test_aclose_leaves_no_unclosed_session(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(lambda s: s.request("POST", httpserver.url_for("/hook"), json={})).status_code == 200
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]
