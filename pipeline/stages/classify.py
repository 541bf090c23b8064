"""classify: alert changes → classified alerts (EnrichedAlert), or a dead letter with the reason.

Per alert: rule-based classification (pipeline.classification.rules) written into the labels and
``classification``; then, when enabled, the model's answer (pipeline.classification.llm) where the rules
left the priority to defaults; then the enrichment workflows (pipeline.enrichment). Records that cannot
be decoded are dead-lettered and never stop the stage.

With the rules only, the processor is synchronous (``ClassifyProcessor``). With a model or workflows
it is async (``ClassifyAsyncProcessor``): the runtime works on up to ``classification.max_in_flight``
alerts at once, each leaving as soon as it is done, the model's wait bounded by ``llm_timeout_s``
(then the rules stand); only records of the same alert wait for each other, so they stay in order,
and an input is acknowledged once all of its alerts are out (at least once).
"""

from __future__ import annotations

import logging

from pipeline.classification.combine import wants_llm, with_llm_outcome
from pipeline.classification.config import ClassificationFile, load_for_worker
from pipeline.classification.llm import LlmClassifier
from pipeline.classification.metrics import CLASSIFIED, ENRICHMENT_ERRORS, LLM_OUTCOMES
from pipeline.classification.rules import RuleResult, classify_by_rules
from pipeline.enrichment.engine import Enricher
from pipeline.models import AlertEvent, EnrichedAlert, replace
from pipeline.settings import Settings
from pipeline.stages.processor import Emit, Processor, Record

log = logging.getLogger(__name__)


def rule_classified(event: AlertEvent, result: RuleResult) -> EnrichedAlert:
    """The alert with its rule-based classification, labels written in. Pure."""
    alert = replace(event.alert, labels=result.labels)
    return EnrichedAlert(alert=alert, source=event.source, source_format=event.source_format,
                         received_at=event.received_at, change=event.change,
                         classification=result.classification)


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
                                redis_url=settings.redis if settings.classification.llm_redis_cache else None)
        return cls(rules, llm, Enricher(rules.workflows) if rules.workflows else None)

    @property
    def synchronous(self) -> bool:
        """No model and no workflow that calls out: nothing to wait for."""
        return self.llm is None and (self.enricher is None or not self.enricher.awaits)

    def classify_now(self, event: AlertEvent) -> EnrichedAlert:
        """``classify`` for a synchronous classifier."""
        enriched = self._by_rules(event)[1]
        if self.enricher is not None:
            enriched = self._enrichment_counted(enriched, self.enricher.enrich_now(enriched))
        return self._counted(enriched)

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
            enriched = self._enrichment_counted(enriched, await self.enricher.enrich(enriched))
        return self._counted(enriched)

    @staticmethod
    def _enrichment_counted(before: EnrichedAlert, after: EnrichedAlert) -> EnrichedAlert:
        ENRICHMENT_ERRORS.inc(len(after.enrichment_errors) - len(before.enrichment_errors))
        return after

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


class ClassifyProcessor(Processor):
    STAGE = "classify"
    OUTPUTS = ("classified",)

    def __init__(self, classifier: AlertClassifier):
        self.classifier = classifier

    @classmethod
    def from_settings(cls, settings, topology) -> Processor:
        rules = load_for_worker(settings.classification.rules_file, cls.STAGE)  # before joining the group
        local = AlertClassifier(rules, None, Enricher(rules.workflows) if rules.workflows else None)
        if settings.classification.llm_enabled or not local.synchronous:
            processor = ClassifyAsyncProcessor(local, settings)
            processor.MAX_IN_FLIGHT = settings.classification.max_in_flight
            return processor
        return cls(local)

    def process(self, record: Record, state, now):
        event: AlertEvent = record.value
        enriched = self.classifier.classify_now(event)
        return (Emit("classified", enriched.alert.fingerprint.encode(), enriched),)

    async def aclose(self) -> None:
        await self.classifier.close()


class ClassifyAsyncProcessor(ClassifyProcessor):
    """The model and the workflows: awaits per alert, run concurrently by the runtime."""

    def __init__(self, classifier: AlertClassifier, settings: Settings | None = None):
        super().__init__(classifier)
        self._settings = settings
        self._built = settings is None

    async def process(self, record: Record, state, now):  # type: ignore[override]
        if not self._built:
            # Built inside the worker's event loop: the HTTP and Redis clients bind to it.
            self.classifier = AlertClassifier.from_settings(self._settings, self.classifier.rules)
            self._built = True
        enriched = await self.classifier.classify(record.value)
        return (Emit("classified", enriched.alert.fingerprint.encode(), enriched),)
