"""classify: alerts.deduped → alerts.classified (EnrichedAlert), or alerts.dlq with the reason.

Each alert gets the rule-based classification (pipeline.classification.rules), written into its labels
and into ``classification``. Records that cannot be decoded are dead-lettered and never stop the stage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline import wire
from pipeline.classification.config import ClassificationFile, load_classification_file
from pipeline.classification.rules import classify_by_rules
from pipeline.dead_letters import Rejected
from pipeline.models import AlertEvent, EnrichedAlert
from pipeline.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Classified:
    key: bytes
    value: bytes


def decode_deduped(value: bytes | None) -> AlertEvent | Rejected:
    if value is None:
        return Rejected("EmptyRecord", "record has no value (tombstone)")
    try:
        return wire.decode(AlertEvent, value)
    except wire.WireError as exc:
        return Rejected("WireError", str(exc))


def rule_classified(event: AlertEvent, rules: ClassificationFile) -> EnrichedAlert:
    """The alert with its rule-based classification, labels written in. Pure."""
    result = classify_by_rules(event.alert.labels, rules.classification)
    alert = event.alert.model_copy(update={"labels": result.labels})
    return EnrichedAlert(alert=alert, source=event.source, source_format=event.source_format,
                         received_at=event.received_at, change=event.change,
                         classification=result.classification)


def classify_record(value: bytes | None, rules: ClassificationFile) -> Classified | Rejected:
    """One deduped record to its classified form (rules only), or why it cannot be one. Pure."""
    event = decode_deduped(value)
    if isinstance(event, Rejected):
        return event
    enriched = rule_classified(event, rules)
    return Classified(enriched.alert.fingerprint.encode(), wire.encode(enriched))


def run(settings: Settings) -> None:
    from pipeline.stages.app import StageApp

    rules = load_classification_file(settings.classification.rules_file)  # a bad file stops the worker here
    stage = StageApp("classify", settings)
    deduped = stage.topic("alerts.deduped")
    classified = stage.topic("alerts.classified")

    @stage.app.agent(deduped, name="classify")
    async def classify_agent(stream):
        async for event in stream.events():
            outcome = classify_record(event.value, rules)
            if isinstance(outcome, Classified):
                await classified.send(key=outcome.key, value=outcome.value)
            else:
                await stage.dead_letter(event, outcome)

    stage.run()
