"""The DeliveryOutcome record (``schemas/proposed/DeliveryOutcome.avsc``) as a msgspec Struct.

The sink writes one per settled delivery attempt to ``notifications.outcomes`` (keyed by the
notification id); the history stage stores them. Field names, order, optionality and defaults mirror
the Avro schema (tests/unit/history/test_records.py checks that). JSON on the wire like every other
record: unknown fields are ignored on decode (a newer writer), wrong types are errors, timestamps must
carry an offset and are converted to UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

import msgspec

OutcomeKind = Literal["delivered", "retrying", "dead_lettered", "duplicate_skipped"]
OUTCOME_KINDS: tuple[str, ...] = ("delivered", "retrying", "dead_lettered", "duplicate_skipped")
MAX_ERROR_CHARS = 1024  # pipeline.delivery.headers.MAX_ERROR_CHARS: the sink's reasons are cut there

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class DeliveryOutcome(msgspec.Struct, frozen=True, kw_only=True):
    avro_record = "DeliveryOutcome"  # a class attribute, not a field (no annotation)

    notification_id: str
    receiver: str
    integration: str = ""
    group_key: str
    outcome: OutcomeKind
    attempt: Annotated[int, msgspec.Meta(ge=1, lt=2**31)]
    error: str = ""
    at: AwareDatetime
    retry_tier: str = ""
    status_code: Annotated[int, msgspec.Meta(ge=0, lt=2**31)] | None = None


_DECODER = msgspec.json.Decoder(DeliveryOutcome)
_ENCODER = msgspec.json.Encoder()


class OutcomeDecodeError(ValueError):
    """The bytes are not a DeliveryOutcome; the message names the problem (a dead-letter reason)."""


def decode_outcome(data: bytes) -> DeliveryOutcome:
    try:
        outcome = _DECODER.decode(data)
    except msgspec.ValidationError as exc:
        raise OutcomeDecodeError(f"not a DeliveryOutcome: {exc}") from None
    except msgspec.DecodeError as exc:
        raise OutcomeDecodeError(f"not JSON: {exc}") from None
    if outcome.at.utcoffset() != timezone.utc.utcoffset(None):
        outcome = msgspec.structs.replace(outcome, at=outcome.at.astimezone(timezone.utc))
    return outcome


def encode_outcome(outcome: DeliveryOutcome) -> bytes:
    return _ENCODER.encode(outcome)
