"""classify: alerts.deduped → alerts.classified (EnrichedAlert), or alerts.dlq with the reason.

Per alert: rule-based classification (pipeline.classification.rules) written into the labels and
``classification``; then, when enabled, the model's answer (pipeline.classification.llm) where the rules
left the priority to defaults; then the enrichment workflows (pipeline.enrichment). Records that cannot
be decoded are dead-lettered and never stop the stage.

Never blocked by a slow model: up to ``classification.max_in_flight`` alerts are worked on at once and
each leaves as soon as it is done, the model's wait bounded by ``llm_timeout_s`` (then the rules stand).
Only records of the same alert wait for each other, so they stay in order (pipeline.classification.inflight).
Offsets are acknowledged by hand once the output is written; Faust commits only up to the first
unacknowledged offset, so a crash replays unfinished alerts instead of losing them (at least once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline import wire
from pipeline.classification.combine import wants_llm, with_llm_outcome
from pipeline.classification.config import ClassificationFile, load_for_worker
from pipeline.classification.llm import LlmClassifier
from pipeline.classification.metrics import CLASSIFIED, ENRICHMENT_ERRORS, LLM_OUTCOMES
from pipeline.classification.rules import RuleResult, classify_by_rules
from pipeline.dead_letters import Rejected
from pipeline.enrichment.engine import Enricher
from pipeline.models import AlertEvent, EnrichedAlert, replace
from pipeline.settings import Settings
from pipeline.runtime.output import AckAfter

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


def rule_classified(event: AlertEvent, result: RuleResult) -> EnrichedAlert:
    """The alert with its rule-based classification, labels written in. Pure."""
    alert = replace(event.alert, labels=result.labels)
    return EnrichedAlert(alert=alert, source=event.source, source_format=event.source_format,
                         received_at=event.received_at, change=event.change,
                         classification=result.classification)


def _classified(enriched: EnrichedAlert) -> Classified:
    return Classified(enriched.alert.fingerprint.encode(), wire.encode(enriched))


class AlertClassifier:
    """Everything the stage does to one record; never raises for a bad alert or a failing service."""

    def __init__(self, rules: ClassificationFile, llm: LlmClassifier | None = None, enricher: Enricher | None = None):
        self.rules = rules
        self.llm = llm
        self.enricher = enricher

    @classmethod
    def from_settings(cls, settings: Settings, rules: ClassificationFile) -> AlertClassifier:
        llm = None
        if settings.classification.llm_enabled:
            names = rules.classification.labels
            written = tuple(n for n in (names.priority, names.category, names.team, names.auto_incident) if n)
            llm = LlmClassifier(settings.classification, rules.llm, ignored_labels=written,
                                redis_url=settings.redis.url if settings.classification.llm_redis_cache else None)
        return cls(rules, llm, Enricher(rules.workflows) if rules.workflows else None)

    async def process(self, value: bytes | None) -> Classified | Rejected:
        event = decode_deduped(value)
        if isinstance(event, Rejected):
            return event
        return _classified(await self.classify(event))

    @property
    def synchronous(self) -> bool:
        """Rules only (no model, no workflows): nothing to wait for, so no task per alert."""
        return self.llm is None and self.enricher is None

    def process_now(self, value: bytes | None) -> Classified | Rejected:
        """``process`` for a synchronous classifier."""
        event = decode_deduped(value)
        if isinstance(event, Rejected):
            return event
        return _classified(self._counted(self._by_rules(event)[1]))

    async def classify(self, event: AlertEvent) -> EnrichedAlert:
        config = self.rules
        result, enriched = self._by_rules(event)
        if self.llm is not None and wants_llm(result, config.llm):
            outcome = await self.llm.classify(event.alert.labels, event.alert.annotations)
            LLM_OUTCOMES.labels(outcome.source or "failed").inc()
            classification, labels, annotations = with_llm_outcome(
                result, event.alert.annotations, outcome, config.llm, config.classification)
            alert = replace(enriched.alert, labels=labels, annotations=annotations)
            enriched = replace(enriched, alert=alert, classification=classification)
        if self.enricher is not None:
            errors_before = len(enriched.enrichment_errors)
            enriched = await self.enricher.enrich(enriched)
            ENRICHMENT_ERRORS.inc(len(enriched.enrichment_errors) - errors_before)
        return self._counted(enriched)

    def _by_rules(self, event: AlertEvent) -> tuple[RuleResult, EnrichedAlert]:
        result = classify_by_rules(event.alert.labels, self.rules.classification)
        return result, rule_classified(event, result)

    @staticmethod
    def _counted(enriched: EnrichedAlert) -> EnrichedAlert:
        CLASSIFIED.labels(enriched.classification.classified_by).inc()
        return enriched

    async def close(self) -> None:
        if self.llm is not None:
            await self.llm.close()
        if self.enricher is not None:
            await self.enricher.close()


async def submit_items(stage, event, classifier: AlertClassifier, in_flight, classified_topic: str) -> None:
    """Hand every item of an input event to the bounded concurrent work (model calls, workflows).

    Each item leaves when it is done; the event is acknowledged once all of them are out. A function
    of its own so that every closure binds this event's values (the agent loop rebinds its variables
    while earlier items are still in flight)."""
    output = stage.output
    items = stage.items(event)
    if isinstance(items, Rejected):
        await output.emit(event, [stage.dead_letter_record(event, items)])
        return
    done = AckAfter(event, len(items))
    for index, (key, value) in enumerate(items):
        async def deliver(outcome, item=(index, key, value)):
            if isinstance(outcome, Classified):
                await output.emit(done, [(classified_topic, outcome.key, outcome.value, None)])
            else:
                await output.emit(done, [stage.dead_letter_record(event, outcome, item)])

        await in_flight.submit(key, lambda value=value: classifier.process(value), deliver)


def run(settings: Settings) -> None:
    from pipeline.classification.inflight import KeyedInFlight
    from pipeline.classification.metrics import add_metrics_page
    from pipeline.runtime.app import StageApp

    rules = load_for_worker(settings.classification.rules_file, "classify")  # before joining the group
    stage = StageApp("classify", settings)
    deduped = stage.topic("alerts.deduped")
    add_metrics_page(stage.app)

    classified = settings.topic("alerts.classified")

    @stage.app.agent(deduped, name="classify")
    async def classify_agent(stream):
        # Built inside the worker's event loop: the HTTP and Redis clients bind to it.
        classifier = AlertClassifier.from_settings(settings, rules)
        in_flight = KeyedInFlight(settings.classification.max_in_flight)

        def handle(_key, value):
            outcome = classifier.process_now(value)
            return outcome if isinstance(outcome, Rejected) else [(classified, outcome.key, outcome.value, None)]

        try:
            async for event in stream.noack().events():
                if classifier.synchronous:
                    await stage.process(event, handle)
                else:
                    await submit_items(stage, event, classifier, in_flight, classified)
        finally:
            await classifier.close()

    stage.run()
