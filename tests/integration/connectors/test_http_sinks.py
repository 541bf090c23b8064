"""Each HTTP connector against a local fake (pytest-httpserver): the exact request and the outcome.

Every test runs through the sink's sender (connectors.http.AiohttpSender) and through an
httpx.AsyncClient, which the seam still accepts."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connectors.base import Connector, Outcome
from connectors.http import AiohttpSender
from tests.unit.connectors.factories import MemoryThreadStore, alert, build, context, notification

SENDERS = {
    "aiohttp": lambda: AiohttpSender(timeout_s=5.0, connect_timeout_s=5.0, max_connections=4),
    "httpx": lambda: httpx.AsyncClient(timeout=5.0),
}
sender = SENDERS["aiohttp"]


@pytest.fixture(autouse=True, params=list(SENDERS))
def each_sender(request, monkeypatch) -> None:
    monkeypatch.setitem(globals(), "sender", SENDERS[request.param])


def deliver(connector: Connector, item, threads: MemoryThreadStore | None = None) -> Outcome:
    async def run() -> Outcome:
        http = sender()
        try:
            store = threads or MemoryThreadStore()
            outcome = await connector.deliver(item, context(http, store))
            if outcome.kind == "delivered" and outcome.thread_state is not None:
                await store.put(connector.thread_key(item), outcome.thread_state)  # as the sink does
            return outcome
        finally:
            await http.aclose()

    return asyncio.run(run())


def sent(server: HTTPServer, index: int = -1) -> tuple[Request, Any]:
    request, _ = server.log[index]
    return request, json.loads(request.get_data()) if request.get_data() else None


def test_webhook_posts_the_signed_payload_and_5xx_is_retryable(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("", status=503)
    (hook,) = build(f"  webhook_configs: [{{url: '{httpserver.url_for('/hook')}', signing_secret: s,"
                    " http_config: {basic_auth: {username: am, password: pw}}}]")
    outcome = deliver(hook, notification())
    assert (outcome.kind, outcome.status_code) == ("retryable", 503)
    request, body = sent(httpserver)
    assert request.headers["Authorization"] == "Basic YW06cHc="
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert body["version"] == "4" and body["alerts"][0]["labels"]["alertname"] == "DiskFull"


def test_transport_error_is_retryable_and_names_no_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nobody listens there
    (hook,) = build(f"  webhook_configs: [{{url: 'http://127.0.0.1:{port}/hook?token=SECRET'}}]")
    outcome = deliver(hook, notification())
    assert outcome.kind == "retryable" and outcome.reason.startswith("webhook: transport error")
    assert "SECRET" not in outcome.reason


def test_slack_incoming_webhook_channel_not_found(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/services/T/B/X", method="POST").respond_with_data("channel_not_found", status=404)
    (slack,) = build(f"  slack_configs: [{{api_url: '{httpserver.url_for('/services/T/B/X')}', channel: '#ops',"
                     " title: 'Team {{ .CommonLabels.team }}: {{ template \"slack.default.title\" . }}'}]")
    outcome = deliver(slack, notification())
    assert (outcome.kind, outcome.reason) == ("permanent", "slack: HTTP 404 channel_not_found")
    _, body = sent(httpserver)
    attachment = body["attachments"][0]
    assert body["channel"] == "#ops"
    assert attachment["title"] == "Team ops: [FIRING:1] P1 DiskFull"
    assert attachment["color"] == "danger"
    assert "*Priority*: P1" in attachment["text"] and "/#/silences/new?filter=" in attachment["text"]


def test_slack_bot_threads_repeats_and_resolved_under_the_root(httpserver: HTTPServer) -> None:
    posted: list[dict] = []

    def post_message(request: Request) -> Response:
        body = json.loads(request.get_data())
        posted.append(body)
        ts = "100.000" if "thread_ts" not in body else f"10{len(posted)}.000"
        return Response(json.dumps({"ok": True, "channel": "C1", "ts": ts}), content_type="application/json")

    httpserver.expect_request("/api/chat.postMessage", method="POST").respond_with_handler(post_message)
    httpserver.expect_request("/api/chat.update", method="POST").respond_with_json(
        {"ok": True, "channel": "C1", "ts": "100.000"})
    (slack,) = build(f"  slack_configs: [{{api_url: '{httpserver.url_for('/api/chat.postMessage')}', channel: C1,"
                     " http_config: {authorization: {credentials: xoxb-TOKEN}}}]")
    threads = MemoryThreadStore()
    assert deliver(slack, notification(), threads).kind == "delivered"
    assert threads.values[slack.thread_key(notification())] == {"channel": "C1", "ts": "100.000", "resolved": False}
    assert deliver(slack, notification(alert(status="resolved")), threads).kind == "delivered"
    paths = [request.path for request, _ in httpserver.log]
    assert paths == ["/api/chat.postMessage", "/api/chat.update", "/api/chat.postMessage"]
    update = json.loads(httpserver.log[1][0].get_data())
    assert (update["channel"], update["ts"]) == ("C1", "100.000")
    assert update["attachments"][0]["color"] == "good"
    assert posted[1]["thread_ts"] == "100.000" and "thread_ts" not in posted[0]
    assert all(request.headers["Authorization"] == "Bearer xoxb-TOKEN" for request, _ in httpserver.log)
    # resolved: the next firing starts a new root
    assert deliver(slack, notification(), threads).kind == "delivered"
    assert "thread_ts" not in posted[2]


def test_slack_bot_channel_not_found_is_permanent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "channel_not_found"})
    (slack,) = build(f"  slack_configs: [{{api_url: '{httpserver.url_for('/api/chat.postMessage')}', channel: CX,"
                     " http_config: {authorization: {credentials: xoxb-1}}}]")
    outcome = deliver(slack, notification())
    assert (outcome.kind, outcome.reason) == ("permanent", "slack: channel_not_found")


def test_pagerduty_trigger_then_resolve_with_one_dedup_key(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_json(
        {"status": "success", "message": "Event processed", "dedup_key": "k"}, status=202)
    key = "R0123456789abcdef0123456789abcde"
    (pd,) = build(f"  pagerduty_configs: [{{routing_key: {key}, url: '{httpserver.url_for('/v2/enqueue')}'}}]")
    assert deliver(pd, notification(alert(priority="P0"))).kind == "delivered"
    assert deliver(pd, notification(alert(status="resolved"))).kind == "delivered"
    (_, trigger), (_, resolve) = sent(httpserver, 0), sent(httpserver, 1)
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == key
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"] == "[FIRING:1] P0 DiskFull: DiskFull on db-1"
    assert {link["text"] for link in trigger["links"]} == {"Source", "Runbook", "Alertmanager", "Silence"}
    assert resolve == {"routing_key": key, "dedup_key": trigger["dedup_key"], "event_action": "resolve"}
    assert len(trigger["dedup_key"]) == 64


def test_pagerduty_invalid_event(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/enqueue").respond_with_json(
        {"status": "invalid event", "message": "Event object is invalid", "errors": ["'payload.summary' is missing"]},
        status=400)
    (pd,) = build(f"  pagerduty_configs: [{{routing_key: abc, url: '{httpserver.url_for('/v2/enqueue')}'}}]")
    outcome = deliver(pd, notification())
    assert outcome.kind == "permanent" and "invalid event" in outcome.reason


def test_opsgenie_create_with_alias_then_close_by_alias(httpserver: HTTPServer) -> None:
    accepted = {"result": "Request will be processed", "took": 0.1, "requestId": "r"}
    httpserver.expect_request("/v2/alerts", method="POST").respond_with_json(accepted, status=202)
    httpserver.expect_request(__import__("re").compile(r"/v2/alerts/[0-9a-f]{64}/close"),
                              method="POST").respond_with_json(accepted, status=202)
    (og,) = build(f"  opsgenie_configs: [{{api_key: GK, api_url: '{httpserver.url_for('/')}',"
                  " tags: 'a, b', responders: [{name: ops, type: team}]}]")
    assert deliver(og, notification(alert(priority="P3"))).kind == "delivered"
    assert deliver(og, notification(alert(status="resolved"))).kind == "delivered"
    create_request, create = sent(httpserver, 0)
    close_request, _ = sent(httpserver, 1)
    assert create_request.headers["Authorization"] == "GenieKey GK"
    assert create["priority"] == "P4" and create["tags"] == ["a", "b"]
    assert create["responders"] == [{"name": "ops", "type": "team"}]
    assert len(create["message"]) <= 130
    assert close_request.path == f"/v2/alerts/{create['alias']}/close"
    assert close_request.args["identifierType"] == "alias"


def test_teams_card_stays_under_28kb_and_413_is_permanent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/workflows/1", method="POST").respond_with_data("", status=413)
    (teams,) = build(f"  msteamsv2_configs: [{{webhook_url: '{httpserver.url_for('/workflows/1')}?sig=SIG'}}]")
    huge = [alert(instance=f"db-{i}-" + "x" * 2000) for i in range(40)]
    outcome = deliver(teams, notification(*huge))
    assert outcome.kind == "permanent" and outcome.status_code == 413
    request, body = sent(httpserver)
    assert len(request.get_data()) <= 28 * 1024
    assert request.args["sig"] == "SIG"
    card = body["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard" and card["content"]["body"][1]["wrap"] is True
    assert card["content"]["body"][1]["text"].endswith("…")


def test_telegram_sendmessage_is_escaped_html_within_4096(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/bot123:TOKEN/sendMessage", method="POST").respond_with_json(
        {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 12",
         "parameters": {"retry_after": 12}}, status=429)
    (tg,) = build(f"  telegram_configs: [{{bot_token: '123:TOKEN', chat_id: -1001, api_url: '{httpserver.url_for('')}',"
                  " message: '<b>{{ .CommonLabels.instance }}</b> {{ .Summary }}'}]")
    item = notification(alert(instance="<db & 1>" + "y" * 5000))
    outcome = deliver(tg, item)
    assert (outcome.kind, outcome.retry_after) == ("retryable", 12.0)
    assert "TOKEN" not in outcome.reason
    _, body = sent(httpserver)
    assert body["chat_id"] == -1001 and body["parse_mode"] == "HTML"
    assert len(body["text"]) <= 4096
    assert body["text"].startswith("<b>&lt;db &amp; 1&gt;yyy") and body["text"].endswith("…</b>")


def test_discord_embed_limits(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/webhooks/1/TOKEN", method="POST").respond_with_json({"id": "1"})
    (discord,) = build(f"  discord_configs: [{{webhook_url: '{httpserver.url_for('/api/webhooks/1/TOKEN')}',"
                       " title: '{{ .Summary }}'}]")
    item = notification(*[alert(instance="i" * 300 + str(i)) for i in range(30)])
    assert deliver(discord, item).kind == "delivered"
    request, body = sent(httpserver)
    assert request.args["wait"] == "true"
    embed = body["embeds"][0]
    assert len(body["content"]) <= 2000 and len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
    assert embed["color"] == 0x992D22


def test_datadog_event(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/events", method="POST").respond_with_json({"status": "ok"}, status=202)
    (dd,) = build(f"  datadog_configs: [{{api_key: DDKEY, api_url: '{httpserver.url_for('')}', tags: ['env:prod']}}]")
    assert deliver(dd, notification(alert(status="resolved"))).kind == "delivered"
    request, body = sent(httpserver)
    assert request.headers["DD-API-KEY"] == "DDKEY"
    assert body["alert_type"] == "success" and "env:prod" in body["tags"] and "team:ops" in body["tags"]
    assert len(body["title"]) <= 100 and len(body["text"]) <= 4000 and len(body["aggregation_key"]) <= 100


def _json_handler(answers: Mapping[tuple[str, str], tuple[int, Any]]):
    def handle(request: Request) -> Response:
        for (method, suffix), (status, payload) in answers.items():
            if request.method == method and request.path.endswith(suffix):
                return Response(json.dumps(payload) if payload is not None else "", status=status,
                                content_type="application/json")
        return Response("unexpected", status=599)
    return handle


def test_jira_creates_once_updates_then_transitions_on_resolve(httpserver: HTTPServer) -> None:
    import re

    httpserver.expect_request(re.compile("/rest/api/3/.*")).respond_with_handler(_json_handler({
        ("POST", "/issue"): (201, {"id": "1", "key": "OPS-7", "self": "x"}),
        ("PUT", "/issue/OPS-7"): (204, None),
        ("GET", "/issue/OPS-7/transitions"): (200, {"transitions": [{"id": "31", "name": "Done"}]}),
        ("POST", "/issue/OPS-7/transitions"): (204, None),
    }))
    (jira,) = build(f"  jira_configs: [{{api_url: '{httpserver.url_for('/rest/api/3')}', project: OPS,"
                    " issue_type: Bug, resolve_transition: Done, labels: [alerts],"
                    " http_config: {basic_auth: {username: me@example.com, password: TOKEN}}}]")
    threads = MemoryThreadStore()
    assert deliver(jira, notification(), threads).kind == "delivered"
    assert deliver(jira, notification(), threads).kind == "delivered"
    assert deliver(jira, notification(alert(status="resolved")), threads).kind == "delivered"
    calls = [(r.method, r.path) for r, _ in httpserver.log]
    assert calls == [("POST", "/rest/api/3/issue"), ("PUT", "/rest/api/3/issue/OPS-7"),
                     ("PUT", "/rest/api/3/issue/OPS-7"), ("GET", "/rest/api/3/issue/OPS-7/transitions"),
                     ("POST", "/rest/api/3/issue/OPS-7/transitions")]
    _, created = sent(httpserver, 0)
    fields = created["fields"]
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"] == {"name": "Bug"}
    assert fields["priority"] == {"name": "High"} and fields["description"]["type"] == "doc"
    assert "alerts" in fields["labels"] and any(label.startswith("ALERT{") for label in fields["labels"])
    assert sent(httpserver, 4)[1] == {"transition": {"id": "31"}}


def test_servicenow_creates_then_resolves_the_incident(httpserver: HTTPServer) -> None:
    import re

    httpserver.expect_request(re.compile("/api/now/table/incident.*")).respond_with_handler(_json_handler({
        ("POST", "/incident"): (201, {"result": {"sys_id": "SYS1", "number": "INC0001"}}),
        ("PATCH", "/incident/SYS1"): (200, {"result": {"sys_id": "SYS1", "number": "INC0001"}}),
    }))
    (snow,) = build(f"  servicenow_configs: [{{instance_url: '{httpserver.url_for('')}', assignment_group: ops,"
                    " http_config: {basic_auth: {username: u, password: p}}}]")
    threads = MemoryThreadStore()
    assert deliver(snow, notification(alert(priority="P0")), threads).kind == "delivered"
    assert deliver(snow, notification(alert(status="resolved")), threads).kind == "delivered"
    _, created = sent(httpserver, 0)
    assert (created["urgency"], created["impact"], created["assignment_group"]) == ("1", "1", "ops")
    assert len(created["correlation_id"]) == 64
    request, resolved = sent(httpserver, 1)
    assert request.method == "PATCH" and resolved["state"] == "6" and resolved["close_code"]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable_everywhere(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/x").respond_with_data("down", status=status)
    url = httpserver.url_for("/x")
    for yaml in (f"  webhook_configs: [{{url: '{url}'}}]", f"  slack_configs: [{{api_url: '{url}'}}]",
                 f"  msteamsv2_configs: [{{webhook_url: '{url}'}}]", f"  discord_configs: [{{webhook_url: '{url}'}}]"):
        (connector,) = build(yaml)
        assert deliver(connector, notification()).kind == "retryable", yaml


def test_jira_reopens_within_reopen_duration(httpserver: HTTPServer) -> None:
    import re

    httpserver.expect_request(re.compile("/rest/api/2/.*")).respond_with_handler(_json_handler({
        ("POST", "/issue"): (201, {"id": "1", "key": "OPS-9"}),
        ("PUT", "/issue/OPS-9"): (204, None),
        ("GET", "/issue/OPS-9/transitions"): (200, {"transitions": [{"id": "5", "name": "Done"},
                                                                    {"id": "6", "name": "Reopen"}]}),
        ("POST", "/issue/OPS-9/transitions"): (204, None),
    }))
    (jira,) = build(f"  jira_configs: [{{api_url: '{httpserver.url_for('/rest/api/2')}', project: OPS,"
                    " issue_type: Bug, resolve_transition: Done, reopen_transition: Reopen, reopen_duration: 1h}]")
    threads = MemoryThreadStore()
    for item in (notification(), notification(alert(status="resolved")), notification()):
        assert deliver(jira, item, threads).kind == "delivered"
    transitions = [json.loads(r.get_data()) for r, _ in httpserver.log if r.method == "POST" and "transitions" in r.path]
    assert transitions == [{"transition": {"id": "5"}}, {"transition": {"id": "6"}}]
    assert [r.method for r, _ in httpserver.log].count("POST") == 3  # one create, two transitions
    _, created = sent(httpserver, 0)
    assert isinstance(created["fields"]["description"], str)  # API v2: plain text
