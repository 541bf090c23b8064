"""Dead-letter records: the original key, value and headers, plus why and where it failed.

Header names follow Kafka Connect's (``__connect.errors.*``) so existing DLQ tooling reads them;
``pipeline.errors.*`` adds what Connect has no name for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

ERROR_HEADER_PREFIXES = ("__connect.errors.", "pipeline.errors.")


@dataclass(frozen=True)
class Rejected:
    """A stage's verdict that a record cannot be processed: it goes to the DLQ with this reason."""

    error_class: str
    reason: str


def dead_letter_headers(
    *,
    stage: str,
    reason: str,
    error_class: str,
    topic: str,
    partition: int,
    offset: int,
    original_headers: list[tuple[str, bytes]] | None = None,
    now: datetime | None = None,
) -> list[tuple[str, bytes]]:
    """Headers for a dead-lettered record: the original ones (minus stale error headers), then ours."""
    kept = [(k, v) for k, v in (original_headers or []) if not k.startswith(ERROR_HEADER_PREFIXES)]
    when = (now or datetime.now(timezone.utc)).isoformat(timespec="milliseconds")
    ours = {
        "__connect.errors.topic": topic,
        "__connect.errors.partition": str(partition),
        "__connect.errors.offset": str(offset),
        "__connect.errors.connector.name": stage,
        "__connect.errors.exception.class.name": error_class,
        "__connect.errors.exception.message": reason[:4096],
        "pipeline.errors.stage": stage,
        "pipeline.errors.timestamp": when,
    }
    return kept + [(k, v.encode()) for k, v in ours.items()]


def header_dict(headers: list[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Decode headers for display and tests (last value wins, bytes shown as UTF-8)."""
    return {k: (v or b"").decode("utf-8", "replace") for k, v in (headers or [])}
