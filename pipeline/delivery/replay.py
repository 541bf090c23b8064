"""``pipeline dlq``: list, show and replay what ``notifications.dlq`` holds.

Replay re-sends the original notification (same key, same value, same id) to ``notifications`` (or,
with ``to_retry``, to the first retry tier, so it waits that tier's delay and does not compete with
fresh notifications), without the error and retry headers: it starts with a fresh attempt count and
carries ``pipeline.replay.of`` (``topic/partition/offset`` of the DLQ record). The sink's ledger never
marks a dead-lettered id as delivered, so a replayed one is delivered; an id delivered meanwhile (a
replay run twice, or after a duplicate DLQ record) is skipped by the ledger, never sent twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pipeline import wire
from pipeline.dead_letters import ERROR_HEADER_PREFIXES
from pipeline.delivery.headers import ATTEMPTS, FIRST_FAILURE, LAST_ERROR, RETRY_HEADERS
from pipeline.models import Notification
from pipeline.settings import Settings
from pipeline.runtime.reader import TopicRecord, read_topic

DLQ_TOPIC = "notifications.dlq"
REPLAY_OF = "pipeline.replay.of"
FILTER_FIELDS = ("id", "receiver", "integration", "status", "group_key", "error", "reason")


@dataclass(frozen=True)
class DeadLettered:
    record: TopicRecord

    @property
    def notification(self) -> Notification | None:
        return self.record.value if isinstance(self.record.value, Notification) else None

    @property
    def error_class(self) -> str:
        return self.record.headers.get("__connect.errors.exception.class.name", "")

    @property
    def reason(self) -> str:
        return self.record.headers.get("__connect.errors.exception.message", "")

    @property
    def where(self) -> str:
        return f"{self.record.topic}/{self.record.partition}/{self.record.offset}"

    def field(self, name: str) -> str:
        if name == "error":
            return self.error_class
        if name == "reason":
            return self.reason
        n = self.notification
        if name.startswith("label."):
            return (n.common_labels.get(name[6:], "") if n else "")
        return str(getattr(n, name, "")) if n else ""

    def summary(self) -> dict[str, object]:
        n = self.notification
        return {"at": self.where, "id": self.record.key, "receiver": n.receiver if n else None,
                "integration": n.integration if n else None, "status": n.status if n else None,
                "alerts": len(n.alerts) if n else None, "error": self.error_class, "reason": self.reason,
                "attempts": self.record.headers.get(ATTEMPTS), "first_failure": self.record.headers.get(FIRST_FAILURE),
                "last_error": self.record.headers.get(LAST_ERROR)}


def parse_filters(pairs: Iterable[str]) -> list[tuple[str, str]]:
    """``name=value`` pairs; ``reason`` matches a substring, every other field (and ``label.NAME``,
    a common label) the whole value."""
    filters = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not (name in FILTER_FIELDS or (name.startswith("label.") and len(name) > 6)):
            raise ValueError(f"bad filter {pair!r}: use NAME=VALUE with NAME one of "
                             f"{', '.join(FILTER_FIELDS)} or label.<name>")
        filters.append((name, value))
    return filters


def matches(entry: DeadLettered, filters: list[tuple[str, str]]) -> bool:
    for name, value in filters:
        actual = entry.field(name)
        if (value not in actual) if name == "reason" else (actual != value):
            return False
    return True


def dead_letters(settings: Settings, filters: list[tuple[str, str]] = ()) -> Iterator[DeadLettered]:
    """The DLQ's records from the start to its current end, those matching every filter."""
    for record in read_topic(settings, DLQ_TOPIC):
        entry = DeadLettered(record)
        if matches(entry, list(filters)):
            yield entry


def replay_headers(entry: DeadLettered) -> list[tuple[str, bytes]]:
    kept = [(k, v.encode()) for k, v in entry.record.headers.items()
            if not k.startswith(ERROR_HEADER_PREFIXES) and k not in RETRY_HEADERS and k != REPLAY_OF]
    return kept + [(REPLAY_OF, entry.where.encode())]


def replay(settings: Settings, entries: Iterable[DeadLettered], to_retry: bool = False,
           progress: Callable[[DeadLettered], None] = lambda _: None) -> tuple[int, list[str]]:
    """Re-send ``entries``; returns (replayed, problems). Waits for the broker's acknowledgement of
    every record before returning (exit 0 means every replayed notification is on its topic)."""
    from pipeline.runtime.producer import OutgoingRecord, send_blocking
    from pipeline.stages.sink import retry_policy
    from pipeline.topology import load_topology

    topology_name = retry_policy(load_topology(settings.topics.topology_file)).tiers[0].topic if to_retry \
        else "notifications"
    topic = settings.topic(topology_name)
    problems: list[str] = []

    def records():
        for entry in entries:
            notification = entry.notification
            if notification is None:
                problems.append(f"{entry.where}: not a notification ({entry.record.error}), not replayed")
            else:
                yield OutgoingRecord(topic, notification.id.encode(), wire.encode(notification),
                                     tuple(replay_headers(entry)))
            progress(entry)

    sent, failures = send_blocking(settings.kafka, records(), timeout_s=60)
    return sent - len(failures), problems + failures
