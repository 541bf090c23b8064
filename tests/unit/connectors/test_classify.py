"""Every target's outcome rules, from the real error responses in notification-apis.md."""

from __future__ import annotations

import httpx
import pytest

from connectors.base import Outcome
from tests.unit.connectors.factories import build

WEBHOOK_SLACK = "  slack_configs: [{api_url: 'https://hooks.slack.com/services/T/B/X'}]"
BOT_SLACK = ("  slack_configs: [{api_url: 'https://slack.com/api/chat.postMessage', channel: C1,"
             " http_config: {authorization: {credentials: xoxb-1}}}]")


def response(code: int, json: object = None, text: str | None = None, headers: dict | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://target.invalid/")
    if json is not None:
        return httpx.Response(code, json=json, headers=headers, request=request)
    return httpx.Response(code, text=text or "", headers=headers, request=request)


def classify(yaml: str, resp: httpx.Response) -> Outcome:
    (connector,) = build(yaml)
    return connector.classify(resp)


@pytest.mark.parametrize("code,text,kind", [
    (200, "ok", "delivered"), (400, "invalid_payload", "permanent"), (403, "action_prohibited", "permanent"),
    (404, "channel_not_found", "permanent"), (410, "channel_is_archived", "permanent"),
    (500, "rollup_error", "retryable"), (429, "", "retryable"),
])
def test_slack_incoming_webhook(code: int, text: str, kind: str) -> None:
    outcome = classify(WEBHOOK_SLACK, response(code, text=text, headers={"Retry-After": "7"} if code == 429 else None))
    assert outcome.kind == kind
    if text and kind != "delivered":
        assert outcome.reason == f"slack: HTTP {code} {text}"
    if code == 429:
        assert outcome.retry_after == 7.0


@pytest.mark.parametrize("error,kind", [
    ("channel_not_found", "permanent"), ("invalid_auth", "permanent"), ("not_in_channel", "permanent"),
    ("ratelimited", "retryable"), ("service_unavailable", "retryable"), ("internal_error", "retryable"),
])
def test_slack_bot_api_errors_come_in_a_200(error: str, kind: str) -> None:
    outcome = classify(BOT_SLACK, response(200, json={"ok": False, "error": error}))
    assert (outcome.kind, outcome.reason, outcome.status_code) == (kind, f"slack: {error}", 200)


def test_slack_bot_api_success_keeps_channel_and_ts() -> None:
    outcome = classify(BOT_SLACK, response(200, json={"ok": True, "channel": "C1", "ts": "1714.0001"}))
    assert outcome == Outcome.delivered(200, {"channel": "C1", "ts": "1714.0001"})
    throttled = classify(BOT_SLACK, response(429, json={"ok": False, "error": "ratelimited"},
                                             headers={"Retry-After": "30"}))
    assert (throttled.kind, throttled.retry_after) == ("retryable", 30.0)


PD = "  pagerduty_configs: [{routing_key: 'R0123456789abcdef0123456789abcde'}]"


def test_pagerduty_invalid_event_is_permanent_with_the_errors() -> None:
    outcome = classify(PD, response(400, json={"status": "invalid event", "message": "Event object is invalid",
                                               "errors": ["Length of 'routing_key' is incorrect"]}))
    assert outcome.kind == "permanent"
    assert outcome.reason == ("pagerduty: HTTP 400 invalid event Event object is invalid: "
                              "Length of 'routing_key' is incorrect")
    assert "R0123456789" not in outcome.reason


@pytest.mark.parametrize("code,kind", [(202, "delivered"), (429, "retryable"), (500, "retryable"),
                                       (503, "retryable"), (403, "permanent")])
def test_pagerduty_status_codes(code: int, kind: str) -> None:
    assert classify(PD, response(code, json={"status": "x"})).kind == kind


TELEGRAM = "  telegram_configs: [{bot_token: '123:SECRET', chat_id: 42}]"


def test_telegram_429_honours_retry_after_from_the_parameters() -> None:
    outcome = classify(TELEGRAM, response(429, json={
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 35",
        "parameters": {"retry_after": 35}}))
    assert (outcome.kind, outcome.retry_after) == ("retryable", 35.0)
    assert outcome.reason == "telegram: Too Many Requests: retry after 35"


@pytest.mark.parametrize("code,description", [(400, "Bad Request: chat not found"),
                                              (403, "Forbidden: bot was blocked by the user")])
def test_telegram_client_errors_are_permanent(code: int, description: str) -> None:
    outcome = classify(TELEGRAM, response(code, json={"ok": False, "error_code": code, "description": description}))
    assert (outcome.kind, outcome.reason) == ("permanent", f"telegram: {description}")


TEAMS = "  msteamsv2_configs: [{webhook_url: 'https://flow.invalid/workflows/1?sig=SIG'}]"


def test_teams_413_is_permanent_and_legacy_throttling_retryable() -> None:
    assert classify(TEAMS, response(413, text="Request Entity Too Large")).kind == "permanent"
    assert classify(TEAMS, response(202)).kind == "delivered"
    throttled = classify(TEAMS, response(200, text="Webhook message delivery failed with error: "
                                                   "Microsoft Teams endpoint returned HTTP error 429"))
    assert throttled.kind == "retryable"


def test_discord_retry_after_is_a_float_in_the_body() -> None:
    discord = "  discord_configs: [{webhook_url: 'https://discord.invalid/api/webhooks/1/TOKEN'}]"
    outcome = classify(discord, response(429, json={"message": "You are being rate limited.", "retry_after": 1.5}))
    assert (outcome.kind, outcome.retry_after) == ("retryable", 1.5)
    assert classify(discord, response(404, json={"message": "Unknown Webhook", "code": 10015})).kind == "permanent"


@pytest.mark.parametrize("code,kind", [(202, "delivered"), (400, "permanent"), (401, "permanent"),
                                       (422, "permanent"), (429, "retryable"), (502, "retryable")])
def test_opsgenie_status_codes(code: int, kind: str) -> None:
    assert classify("  opsgenie_configs: [{api_key: k}]", response(code, json={"message": "m"})).kind == kind


def test_jira_and_servicenow_errors_keep_their_messages() -> None:
    jira = ("  jira_configs: [{api_url: 'https://x.invalid/rest/api/2', project: OPS, issue_type: Bug}]")
    outcome = classify(jira, response(400, json={"errorMessages": [], "errors": {"priority": "invalid"}}))
    assert (outcome.kind, outcome.reason) == ("permanent", "jira: HTTP 400 priority: invalid")
    assert classify(jira, response(201, json={"id": "1", "key": "OPS-7"})).thread_state == {"key": "OPS-7"}
    snow = ("  servicenow_configs: [{instance_url: 'https://x.invalid', "
            "http_config: {basic_auth: {username: u, password: p}}}]")
    denied = classify(snow, response(403, json={"error": {"message": "Operation Failed", "detail": "ACL"}}))
    assert (denied.kind, denied.reason) == ("permanent", "servicenow: HTTP 403 Operation Failed: ACL")
    created = classify(snow, response(201, json={"result": {"sys_id": "abc", "number": "INC1"}}))
    assert created.thread_state == {"sys_id": "abc", "number": "INC1"}


def test_kafka_produce_errors() -> None:
    from connectors.sinks.kafka import classify_produce_error

    assert classify_produce_error("broker acknowledgement timed out").kind == "retryable"
    assert classify_produce_error("broker did not accept the record: Broker: Message size too large").kind == \
        "permanent"


def test_smtp_errors() -> None:
    import aiosmtplib

    from connectors.sinks.email import classify_smtp

    assert classify_smtp(aiosmtplib.SMTPResponseException(451, "try later")).kind == "retryable"
    assert classify_smtp(aiosmtplib.SMTPResponseException(550, "no such user")).kind == "permanent"
    assert classify_smtp(aiosmtplib.SMTPConnectError("refused")).kind == "retryable"
    assert classify_smtp(ConnectionRefusedError()).kind == "retryable"
    assert classify_smtp(aiosmtplib.SMTPAuthenticationError(535, "bad credentials")).kind == "permanent"
