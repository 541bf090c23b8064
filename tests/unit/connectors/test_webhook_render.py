"""The webhook payload is Alertmanager's v4 message as Go encodes it; the signature verifies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from connectors.sinks.webhook import WebhookConnector, go_json, signing_key
from tests.unit.connectors.factories import GROUP_KEY, NOW, alert, build, context, notification


def test_payload_has_every_v4_field_in_go_order() -> None:
    firing, resolved = alert(instance="db-1"), alert(status="resolved", instance="db-2")
    (hook,) = build("  webhook_configs: [{url: 'http://hooks/x'}]")
    request = hook.render(notification(firing, resolved, receiver="ops.team+1"), context())
    body = json.loads(request.content)
    assert list(body) == ["receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
                          "externalURL", "version", "groupKey", "truncatedAlerts"]
    assert body["version"] == "4" and body["groupKey"] == GROUP_KEY and body["truncatedAlerts"] == 0
    assert body["receiver"] == r"ops\.team\+1"  # regexp.QuoteMeta, as Alertmanager
    assert body["status"] == "firing"
    assert body["commonLabels"] == {"alertname": "DiskFull", "priority": "P1", "team": "ops"}
    first, second = body["alerts"]
    assert list(first) == ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"]
    assert first["startsAt"] == "2024-05-01T11:55:00.25Z"  # Go drops trailing zeros of the fraction
    assert first["endsAt"] == "0001-01-01T00:00:00Z"
    assert second["endsAt"] == "2024-05-01T11:59:00.25Z"
    assert first["fingerprint"] == firing.fingerprint
    assert request.method == "POST" and request.url == "http://hooks/x"
    assert request.headers["Content-Type"] == "application/json"
    assert request.content.endswith(b"}\n")  # json.Encoder writes a newline
    assert "webhook-signature" not in request.headers


def test_go_json_escapes_html_characters_like_encoding_json() -> None:
    assert go_json({"a": "<b>&\u2028"}) == b'{"a":"\\u003cb\\u003e\\u0026\\u2028"}\n'


def test_max_alerts_truncates_and_recomputes_the_batch_data() -> None:
    (hook,) = build("  webhook_configs: [{url: 'http://hooks/x', max_alerts: 1}]")
    batch = notification(alert(status="resolved", instance="a"), alert(instance="b"), truncated=2)
    body = json.loads(hook.render(batch, context()).content)
    assert len(body["alerts"]) == 1
    assert body["truncatedAlerts"] == 3  # 2 cut by grouping + 1 here
    assert body["status"] == "resolved"  # the one sent is resolved
    assert body["commonLabels"]["instance"] == "a"


def test_signature_verifies_with_the_documented_recipe() -> None:
    (hook,) = build("  webhook_configs: [{url: 'http://hooks/x', signing_secret: 'shared-secret'}]")
    item = notification()
    request = hook.render(item, context())
    headers = request.headers
    assert headers["webhook-id"] == item.id
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    # the receiver's side, as docs/connectors.md describes it
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request.content
    expected = base64.b64encode(hmac.new(b"shared-secret", signed, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(headers["webhook-signature"], "v1," + expected)
    tampered = signed.replace(b"DiskFull", b"DiskFine")
    forged = base64.b64encode(hmac.new(b"shared-secret", tampered, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] != "v1," + forged


def test_standard_webhooks_secrets_are_base64_keys() -> None:
    assert signing_key("whsec_" + base64.b64encode(b"\x00\x01key").decode()) == b"\x00\x01key"
    assert signing_key("plain") == b"plain"


def test_secrets_stay_out_of_repr_and_config_dumps() -> None:
    (hook,) = build("  webhook_configs: [{url: 'http://hooks/x?token=TOPSECRET', signing_secret: 'S3CR3T',"
                    " http_config: {basic_auth: {username: u, password: PASSW0RD}}}]")
    assert isinstance(hook, WebhookConnector)
    shown = repr(hook.config) + hook.config.model_dump_json() + repr(hook.render(notification(), context()))
    for secret in ("TOPSECRET", "S3CR3T", "PASSW0RD"):
        assert secret not in shown
    assert hook.target_key.startswith("webhook:") and "TOPSECRET" not in hook.target_key
