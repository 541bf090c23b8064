"""Request bodies: Alertmanager API v2 batches of realistic, distinct alerts, as Prometheus posts them.

Each alert has 6 labels and 2 annotations, startsAt/endsAt and a generatorURL (what Prometheus sends).
A body is built once per batch size as a template; every request substitutes a fixed-width token,
so request ``n`` carries alerts whose ``instance`` label (hence fingerprint) is unique within a pool of
``distinct`` alerts. The pool wraps around, as Prometheus re-sends its active alerts every evaluation:
the targets see both new alerts and updates of known ones, and their memory stays bounded.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson

TOKEN = b"@@@@@@@@"  # 8 bytes, replaced by an 8-digit request token

ALERTNAMES = ["HighCPUUsage", "HighMemoryUsage", "DiskWillFillIn4Hours", "InstanceDown", "HighErrorRate",
              "SlowRequests", "PodCrashLooping", "CertificateExpiring", "TargetMissing", "QueueBacklog"]
SEVERITIES = ["critical", "warning", "warning", "info"]
NAMESPACES = ["payments", "checkout", "search", "auth", "catalog", "shipping", "monitoring"]


def _alert(j: int, starts: str, ends: str) -> dict:
    name = ALERTNAMES[j % len(ALERTNAMES)]
    namespace = NAMESPACES[j % len(NAMESPACES)]
    return {
        "labels": {
            "alertname": name,
            "severity": SEVERITIES[j % len(SEVERITIES)],
            "cluster": f"prod-eu-{j % 3}",
            "namespace": namespace,
            "service": f"{namespace}-api",
            "instance": f"node-{TOKEN.decode()}-{j:03d}.prod:9100",
        },
        "annotations": {
            "summary": f"{name} on {namespace}-api",
            "description": f"{name} has been firing for more than 5 minutes on {namespace}-api "
                           f"in prod-eu-{j % 3}; see the runbook for the first steps.",
        },
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": f"http://prometheus.prod-eu-{j % 3}:9090/graph?g0.expr=up%3D%3D0&g0.tab=1",
    }


class Bodies:
    """Bodies of ``batch`` alerts; ``body(n)`` for request number ``n``."""

    def __init__(self, batch: int, distinct: int = 100_000, now: datetime | None = None):
        now = now or datetime.now(timezone.utc)
        # Timestamps as Prometheus writes them; endsAt well ahead so no alert resolves during the run.
        starts = (now - timedelta(minutes=5)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        ends = (now + timedelta(hours=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.batch = batch
        self.tokens = max(1, distinct // batch)
        self.template = orjson.dumps([_alert(j, starts, ends) for j in range(batch)])

    def body(self, n: int) -> bytes:
        return self.template.replace(TOKEN, b"%08d" % (n % self.tokens))
