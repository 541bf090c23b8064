"""Example records for the fixtures that ``freeze`` writes.

One realistic value per record, every optional field set to a non-default
value, so that a fixture exercises every field.  When a field is added to a
schema, give it a non-default value here before freezing.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeline import models


def fixture_examples() -> dict[str, models.WireRecord]:
    """One realistic value per record, every optional field set, for fixtures."""
    t0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    alert = models.Alert.with_fingerprint(
        labels={"alertname": "HighLatency", "service": "checkout", "severity": "critical"},
        annotations={"summary": "p99 latency above 2s", "runbook_url": "https://runbooks/latency"},
        starts_at=t0,
        ends_at=t0 + timedelta(hours=1),
        generator_url="http://prometheus:9090/graph?g0.expr=latency",
        status="resolved",
        updated_at=t0 + timedelta(minutes=5),
        timeout=True,
    )
    envelope = dict(source="prometheus-eu1", source_format="alertmanager-v2", received_at=t0)
    return {
        "Alert": alert,
        "RawAlert": models.RawAlert(
            labels=alert.labels,
            annotations=alert.annotations,
            starts_at=alert.starts_at,
            ends_at=alert.ends_at,
            generator_url=alert.generator_url,
            status="firing",
            fingerprint=alert.fingerprint,
            **envelope,
        ),
        "AlertEvent": models.AlertEvent(alert=alert, change="updated", **envelope),
        "EnrichedAlert": models.EnrichedAlert(
            alert=alert,
            change="resolved",
            classification=models.Classification(
                priority="P1",
                category="latency",
                team="payments",
                tags=["customer-facing", "slo"],
                auto_incident=True,
                classified_by="llm",
                confidence=0.87,
                reason="checkout latency breaches the SLO",
            ),
            links=[models.Link(title="Dashboard", url="https://grafana/d/checkout")],
            enrichment_errors=["cmdb: timeout after 2s"],
            routes=[
                models.RouteMatch(
                    receiver="payments-pager",
                    route_key='{}/{team="payments"}',
                    group_key='{}/{team="payments"}:{alertname="HighLatency"}',
                    group_labels={"alertname": "HighLatency"},
                )
            ],
            silenced_by=["7d1f6b5e-silence"],
            inhibited_by=["0123456789abcdef"],
            state="suppressed",
            **envelope,
        ),
        "Notification": models.Notification(
            id=models.notification_id('{}:{alertname="HighLatency"}', "payments-pager", 7),
            receiver="payments-pager",
            status="resolved",
            group_key='{}:{alertname="HighLatency"}',
            group_labels={"alertname": "HighLatency"},
            common_labels=alert.labels,
            common_annotations={"summary": "p99 latency above 2s"},
            external_url="http://alertpipeline:9093",
            truncated_alerts=2,
            alerts=[alert],
            flush_seq=7,
            created_at=t0 + timedelta(hours=1),
            route_key='{}/{team="payments"}',
            integration="webhook/0",
        ),
        "DeliveryOutcome": models.DeliveryOutcome(
            notification_id=models.notification_id('{}:{alertname="HighLatency"}', "payments-pager", 7),
            receiver="payments-pager",
            integration="webhook/0",
            group_key='{}:{alertname="HighLatency"}',
            outcome="retrying",
            attempt=2,
            error="webhook: HTTP 503",
            at=t0 + timedelta(hours=1, seconds=5),
            retry_tier="notifications.retry.30s",
            status_code=503,
        ),
        "Silence": models.Silence(
            id="7d1f6b5e-silence",
            matchers=[
                models.Matcher(name="service", value="checkout", is_regex=False, is_equal=True),
                models.Matcher(name="env", value="staging|dev", is_regex=True, is_equal=False),
            ],
            starts_at=t0,
            ends_at=t0 + timedelta(hours=2),
            updated_at=t0,
            created_by="oncall@example.com",
            comment="deploy window",
        ),
    }
