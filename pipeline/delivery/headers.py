"""The retry state a notification carries from one attempt to the next, in record headers.

A record on ``notifications`` has none of these headers (no failed attempt yet). The sink writes
them on every record it sends to a retry tier or to ``notifications.dlq``:

``pipeline.retry.attempts``       failed attempts so far (decimal), deferrals by the circuit breaker
                                  or a long rate-limit pause included
``pipeline.retry.first_failure``  when the first attempt failed (ISO 8601, UTC, milliseconds)
``pipeline.retry.last_error``     the reason of the latest failure, secret-free (the connector's reason)
``pipeline.retry.tier``           the retry topic (topology name) the record was last sent to

Any other header of the record is kept as it came (the DLQ adds Kafka Connect's error headers, see
``pipeline.dead_letters``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

ATTEMPTS = "pipeline.retry.attempts"
FIRST_FAILURE = "pipeline.retry.first_failure"
LAST_ERROR = "pipeline.retry.last_error"
TIER = "pipeline.retry.tier"
RETRY_HEADERS = (ATTEMPTS, FIRST_FAILURE, LAST_ERROR, TIER)
MAX_ERROR_CHARS = 1024  # headers travel with every retry; a target's error page must not bloat them

Headers = list[tuple[str, bytes]]


def secret_free(reason: str) -> str:
    """``reason`` bounded to MAX_ERROR_CHARS, every URL in it cut to its scheme and host: connectors'
    own reasons name no secret, but an exception's text can carry the target URL (Slack, Teams and
    Telegram URLs are the credential), its user info or its query."""
    if "://" not in reason:
        return reason[:MAX_ERROR_CHARS]
    words = []
    for word in reason[: MAX_ERROR_CHARS * 4].split(" "):
        if "://" in word:
            scheme, _, rest = word.partition("://")
            host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
            tail = "/…" if len(rest) > len(host) else ""
            word = f"{scheme}://{host}{tail}"
        words.append(word)
    return " ".join(words)[:MAX_ERROR_CHARS]


@dataclass(frozen=True)
class RetryState:
    attempts: int = 0
    first_failure: datetime | None = None
    last_error: str = ""
    tier: str = ""

    def after_failure(self, reason: str, now: datetime, tier: str = "") -> RetryState:
        """The state once one more attempt failed with ``reason``."""
        return RetryState(self.attempts + 1, self.first_failure or now, reason[:MAX_ERROR_CHARS], tier)


def read_retry_state(headers: Iterable[tuple[str, bytes | None]] | None) -> RetryState:
    """The retry state of a record; malformed values count as absent (a hand-made record must not
    crash the stage, and restarting its count is the safe side: it gets more attempts, not fewer)."""
    found = {k: (v or b"").decode("utf-8", "replace") for k, v in (headers or []) if k in RETRY_HEADERS}
    try:
        attempts = max(0, int(found.get(ATTEMPTS, "0")))
    except ValueError:
        attempts = 0
    try:
        first = datetime.fromisoformat(found[FIRST_FAILURE]) if FIRST_FAILURE in found else None
    except ValueError:
        first = None
    if first is not None and first.tzinfo is None:
        first = first.replace(tzinfo=timezone.utc)
    return RetryState(attempts, first, found.get(LAST_ERROR, ""), found.get(TIER, ""))


def with_retry_state(headers: Iterable[tuple[str, bytes | None]] | None, state: RetryState) -> Headers:
    """``headers`` without any old retry header, plus ``state``'s."""
    kept = [(k, v or b"") for k, v in (headers or []) if k not in RETRY_HEADERS]
    ours = [(ATTEMPTS, str(state.attempts).encode())]
    if state.first_failure is not None:
        ours.append((FIRST_FAILURE, state.first_failure.astimezone(timezone.utc)
                     .isoformat(timespec="milliseconds").encode()))
    if state.last_error:
        ours.append((LAST_ERROR, state.last_error.encode()))
    if state.tier:
        ours.append((TIER, state.tier.encode()))
    return kept + ours


def without_retry_state(headers: Iterable[tuple[str, bytes | None]] | None) -> Headers:
    """``headers`` with no retry header: a replayed notification starts with a fresh count."""
    return [(k, v or b"") for k, v in (headers or []) if k not in RETRY_HEADERS]
