"""Many active alerts on alerts.enriched at once, for the scale test and bench/ui."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

SERVICES = ("db", "web", "api", "cache", "queue")
SEVERITIES = ("critical", "warning", "info")
ALERTNAMES = 20


def many_labels(count: int) -> list[dict[str, str]]:
    """``count`` distinct label sets: 20 alert names, 5 services, 3 severities, one instance each."""
    return [{"alertname": f"Alert{i % ALERTNAMES:02d}", "instance": f"host-{i:05d}",
             "service": SERVICES[i % len(SERVICES)], "severity": SEVERITIES[(i // 7) % len(SEVERITIES)]}
            for i in range(count)]


def write_many(writer, count: int, lifetime: timedelta = timedelta(hours=2)) -> list[dict[str, str]]:
    """Write ``count`` firing alerts through ``writer`` (tests.integration.api.conftest.EnrichedWriter)."""
    ends = datetime.now(timezone.utc) + lifetime
    label_sets = many_labels(count)
    for labels in label_sets:
        writer.send(labels, annotations={"summary": f"{labels['alertname']} on {labels['instance']}"},
                    ends_at=ends, flush=False)
    writer.flush()
    return label_sets
