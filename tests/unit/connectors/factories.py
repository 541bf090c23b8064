"""Notifications, contexts and an in-memory ThreadStore for the connector tests (unit and integration)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from connectors.base import Connector, DeliveryContext
from pipeline.amconfig import parse_config
from pipeline.grouping.notification import common_pairs
from pipeline.models import Alert, Notification, notification_id

NOW = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)
GROUP_KEY = '{}/{team="ops"}:{alertname="DiskFull"}'


class MemoryThreadStore:
    def __init__(self) -> None:
        self.values: dict[str, Mapping[str, Any]] = {}

    async def get(self, key: str) -> Mapping[str, Any] | None:
        return self.values.get(key)

    async def put(self, key: str, value: Mapping[str, Any]) -> None:
        self.values[key] = dict(value)


def alert(name: str = "DiskFull", status: str = "firing", priority: str | None = "P1", **labels: str) -> Alert:
    all_labels = {"alertname": name, "team": "ops", "instance": labels.pop("instance", "db-1"), **labels}
    if priority:
        all_labels["priority"] = priority
    return Alert.with_fingerprint(
        labels=all_labels,
        annotations={"summary": f"{name} on {all_labels['instance']}", "runbook_url": "https://runbooks/disk"},
        starts_at=NOW - timedelta(minutes=5),
        ends_at=NOW - timedelta(minutes=1) if status == "resolved" else None,
        generator_url="http://prometheus:9090/graph?g0.expr=disk",
        status=status,
        updated_at=NOW,
    )


def notification(*alerts: Alert, receiver: str = "ops-team", integration: str = "webhook/0",
                 external_url: str = "http://alertmanager:9093", flush_seq: int = 3,
                 truncated: int = 0) -> Notification:
    batch = list(alerts) or [alert()]
    return Notification(
        id=notification_id(GROUP_KEY, f"{receiver}/{integration}", flush_seq),
        receiver=receiver,
        status="firing" if any(a.status == "firing" for a in batch) else "resolved",
        group_key=GROUP_KEY,
        group_labels={"alertname": batch[0].labels["alertname"]},
        common_labels=common_pairs([a.labels for a in batch]),
        common_annotations=common_pairs([a.annotations for a in batch]),
        external_url=external_url,
        truncated_alerts=truncated,
        alerts=batch,
        flush_seq=flush_seq,
        created_at=NOW,
        integration=integration,
    )


def context(http: httpx.AsyncClient | None = None, threads: MemoryThreadStore | None = None) -> DeliveryContext:
    return DeliveryContext(http=http or httpx.AsyncClient(), threads=threads or MemoryThreadStore(), now=NOW)


def build(yaml_receiver: str, global_yaml: str = "") -> list[Connector]:
    """The connectors of receiver ``r`` given its integrations as YAML (through the real loader)."""
    from connectors.registry import connectors_for

    text = (f"global:\n{global_yaml}\n" if global_yaml else "") + \
        "route: {receiver: r}\nreceivers:\n- name: r\n" + yaml_receiver
    return connectors_for(parse_config(text, "am.yml").receiver("r"))
