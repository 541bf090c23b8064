"""Folding a model's answer into the rule-based result. Pure.

Rules are the operators' word: with ``ask: unmatched`` the model is only consulted when no rule decided
the priority. An accepted answer sets priority (via ``answer_priorities``; by default only upwards: a
lower one leaves the rules' priority, see ``LlmOutcome.raise_only``), category, adds its tags,
confidence and reasoning; the team always stays the rules' (the model cannot know who owns what).
auto_incident follows the new priority unless a rule set it explicitly. A missing, failed or
low-confidence answer leaves the rule result as it was and says why in ``reason``.
"""

from __future__ import annotations

from pipeline.classification.llm import LlmOutcome
from pipeline.classification.llm_config import LlmPromptConfig
from pipeline.classification.rules import ClassificationConfig, RuleResult, write_labels
from pipeline.models import Classification, Labels, replace

REASONING_LIMIT = 500


def wants_llm(rule_result: RuleResult, prompt: LlmPromptConfig) -> bool:
    return prompt.ask == "always" or not rule_result.priority_by_rule


def with_llm_outcome(rule_result: RuleResult, annotations: Labels, outcome: LlmOutcome,
                     prompt: LlmPromptConfig, config: ClassificationConfig) -> tuple[Classification, Labels, Labels]:
    """(classification, labels, annotations) after the model's outcome."""
    rules = rule_result.classification
    answer = outcome.answer
    if answer is None:
        reason = f"{rules.reason}; llm not used: {outcome.problem}"
        return replace(rules, reason=reason), rule_result.labels, annotations
    if answer.confidence < prompt.min_confidence:
        reason = (f"{rules.reason}; llm answer ignored: confidence {answer.confidence:g} "
                  f"below {prompt.min_confidence:g}")
        return replace(rules, reason=reason), rule_result.labels, annotations

    priority = prompt.answer_priorities[answer.severity]
    held = ""
    if outcome.raise_only and _rank(priority) > _rank(rules.priority):
        held = (f" (the answer's {priority} would lower the rules' {rules.priority}, which stands: "
                "classification.llm_never_lowers_priority)")
        priority = rules.priority
    auto_incident = rules.auto_incident if rule_result.auto_incident_by_rule else (
        priority in config.defaults.auto_incident_priorities)
    classification = Classification(
        priority=priority, category=answer.category, team=rules.team,
        tags=[*rules.tags, *(t for t in answer.tags if t not in rules.tags)],
        auto_incident=auto_incident, classified_by="llm", confidence=answer.confidence,
        reason=f"llm ({outcome.source}): {answer.reasoning[:REASONING_LIMIT]}{held}",
    )
    out_annotations = dict(annotations)
    if prompt.reasoning_annotation and answer.reasoning:
        out_annotations[prompt.reasoning_annotation] = answer.reasoning
    if prompt.action_items_annotation and answer.action_items:
        out_annotations[prompt.action_items_annotation] = "\n".join(f"- {item}" for item in answer.action_items)
    return classification, write_labels(rule_result.labels, classification, config.labels), out_annotations


def _rank(priority: str) -> int:
    """P0 (most urgent) is 0."""
    return int(priority[1:])
