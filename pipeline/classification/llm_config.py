"""The ``llm`` section of the classification file: what the model is asked, and when.

Connection knobs (URL, model, key, timeouts, caches) are settings (settings.classification.llm_*);
this section is about content: which labels are volatile, when to ask, how answers map to priorities.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.models import Priority

AnswerSeverity = Literal["critical", "high", "medium", "low", "info"]

DEFAULT_SYSTEM_PROMPT = (
    "You classify monitoring alerts for an on-call team. Answer with one JSON object and nothing "
    "else, with exactly these keys: severity (one of critical, high, medium, low, info), category "
    "(one word, e.g. infrastructure, application, security, network, database, capacity), confidence "
    "(number from 0 to 1), reasoning (one or two sentences), action_items (list of short imperative "
    "steps), tags (list of short lowercase words)."
)


def _default_answer_priorities() -> dict[str, Priority]:
    return {"critical": "P0", "high": "P1", "medium": "P2", "low": "P3", "info": "P4"}


class LlmPromptConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # unmatched: only alerts no classification rule matched (rules are the operators' word);
    # always: every alert, the model's answer replacing priority and category of the rules.
    ask: Literal["unmatched", "always"] = "unmatched"
    # Labels that differ between occurrences of the same problem; left out of the cache signature.
    volatile_labels: tuple[str, ...] = (
        "instance", "pod", "pod_name", "container_id", "node", "ip", "uid", "replica", "job_id", "trace_id",
    )
    # Annotations sent to the model (never part of the signature: they carry values that change).
    annotations: tuple[str, ...] = ("summary", "description")
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    min_confidence: float = Field(0.5, ge=0, le=1)
    answer_priorities: dict[AnswerSeverity, Priority] = Field(default_factory=_default_answer_priorities)
    # Annotation names for the model's reasoning and action items (null: not written).
    reasoning_annotation: str | None = "llm_reasoning"
    action_items_annotation: str | None = "llm_action_items"

    @field_validator("answer_priorities")
    @classmethod
    def _every_severity_mapped(cls, value: dict[str, Priority]) -> dict[str, Priority]:
        missing = set(AnswerSeverity.__args__) - set(value)  # type: ignore[attr-defined]
        if missing:
            raise ValueError(f"no priority for {', '.join(sorted(missing))}")
        return value
