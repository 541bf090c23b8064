"""``grafana``: what a Grafana unified alerting contact point of type webhook posts (version "1").

The Alertmanager webhook shape (Grafana embeds an Alertmanager) plus Grafana's
own fields.  The per-alert links, the evaluated values and the organisation
are worth keeping for people and enrichers, so they become annotations with a
``grafana_`` prefix.  The title/state/message of the whole notification are
rendered group texts and are left out, like the webhook's group fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pipeline.ingest.errors import PayloadError
from pipeline.ingest.formats.alertmanager_alert import alerts_list, collect_alerts, webhook_object
from pipeline.ingest.formats.batch import ParsedBatch, SourceStamp
from pipeline.ingest.formats.fields import compact_json, scalar_text
from pipeline.models import RawAlert, replace

SOURCE_FORMAT = "grafana"
PAYLOAD_VERSION = "1"
_WHAT = "Grafana webhook payload"

# Grafana's per-alert field → the annotation that keeps it.
EXTRA_ANNOTATIONS = {
    "silenceURL": "grafana_silence_url",
    "dashboardURL": "grafana_dashboard_url",
    "panelURL": "grafana_panel_url",
    "imageURL": "grafana_image_url",
    "valueString": "grafana_value_string",
}
VALUES_ANNOTATION = "grafana_values"
ORG_ID_ANNOTATION = "grafana_org_id"

LEGACY_PAYLOAD_MESSAGE = (
    "legacy Grafana alerting payload is not supported (it has evalMatches/ruleId and no alerts "
    "list); use a Grafana unified alerting contact point of type webhook"
)


def parse(
    payload: Any, *, source: str, received_at: datetime, resolve_timeout: timedelta,
    stamp: SourceStamp | None = None,
) -> ParsedBatch:
    if _is_legacy(payload):
        raise PayloadError(LEGACY_PAYLOAD_MESSAGE)
    body = webhook_object(payload, _WHAT, PAYLOAD_VERSION)
    org_id = scalar_text(body.get("orgId"))
    return collect_alerts(alerts_list(body, _WHAT), source=source, source_format=SOURCE_FORMAT,
                          received_at=received_at, resolve_timeout=resolve_timeout, with_status=True,
                          extend=lambda raw, item: _with_grafana_annotations(raw, item, org_id), stamp=stamp)


def _is_legacy(payload: Any) -> bool:
    # Legacy (pre-8 / non-unified) alerting posted one rule per request:
    # ruleId, ruleName, state, evalMatches...; it never had an alerts list.
    return (
        isinstance(payload, Mapping)
        and ("evalMatches" in payload or "ruleId" in payload)
        and not isinstance(payload.get("alerts"), list)
    )


def _with_grafana_annotations(
    raw: RawAlert, item: Mapping[str, Any], org_id: str | None
) -> RawAlert:
    """``raw`` plus the non-empty Grafana extras; the sender's annotations win on a name clash."""
    extras = {
        annotation: scalar_text(item.get(field)) for field, annotation in EXTRA_ANNOTATIONS.items()
    }
    values = item.get("values")
    extras[VALUES_ANNOTATION] = (
        compact_json(values) if isinstance(values, Mapping) and values else None
    )
    extras[ORG_ID_ANNOTATION] = org_id
    kept = {name: text for name, text in extras.items() if text}
    if not kept:
        return raw
    return replace(raw, annotations={**kept, **raw.annotations})
