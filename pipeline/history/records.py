"""The DeliveryOutcome record (``schemas/DeliveryOutcome.avsc``, ``pipeline.models.DeliveryOutcome``).

The sink writes one per settled delivery attempt to ``notifications.outcomes`` (keyed by the
notification id); the history stage stores them. The record is a wire record like every other
(pipeline.models, pipeline.wire: JSON, unknown fields ignored on decode, wrong types are errors,
timestamps must carry an offset); ``decode_outcome`` also converts the time to UTC.
"""

from __future__ import annotations

import typing
from datetime import timezone

from pipeline import wire
from pipeline.models import DeliveryOutcome, DeliveryOutcomeKind, replace

__all__ = ["MAX_ERROR_CHARS", "OUTCOME_KINDS", "DeliveryOutcome", "OutcomeDecodeError", "decode_outcome",
           "encode_outcome"]

OUTCOME_KINDS: tuple[str, ...] = typing.get_args(DeliveryOutcomeKind)
MAX_ERROR_CHARS = 1024  # pipeline.delivery.headers.MAX_ERROR_CHARS: the sink's reasons are cut there


class OutcomeDecodeError(ValueError):
    """The bytes are not a DeliveryOutcome; the message names the problem (a dead-letter reason)."""


def decode_outcome(data: bytes) -> DeliveryOutcome:
    try:
        outcome = wire.decode(DeliveryOutcome, data)
    except wire.WireError as exc:
        raise OutcomeDecodeError(f"not a DeliveryOutcome: {exc}") from None
    if outcome.at.utcoffset() != timezone.utc.utcoffset(None):
        outcome = replace(outcome, at=outcome.at.astimezone(timezone.utc))
    return outcome


def encode_outcome(outcome: DeliveryOutcome) -> bytes:
    return wire.encode(outcome)
