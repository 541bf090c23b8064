"""The model's answer: strict JSON, validated; anything else is a failure and the rules stand. Pure."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from pipeline.classification.llm_config import AnswerSeverity

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _folded(value: object) -> object:
    # Models capitalise freely ("Database"); labels and tags are lower case. Non-strings pass through
    # to be refused by the strict type check.
    return value.strip().lower() if isinstance(value, str) else value


Tag = Annotated[str, BeforeValidator(_folded), StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")]
Category = Annotated[str, BeforeValidator(_folded), StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]


class LlmAnswer(BaseModel):
    # strict: "0.9" is not a number, a missing or extra key is an error; a model that drifts from
    # the format fails loudly instead of injecting half-parsed values into routing labels.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    severity: AnswerSeverity
    category: Category
    confidence: float = Field(ge=0, le=1, allow_inf_nan=False)
    reasoning: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
    action_items: list[ShortText] = Field(max_length=10)
    tags: list[Tag] = Field(max_length=10)


class AnswerError(ValueError):
    """The API's response or the model's content is not a valid answer."""


def parse_completion(body: bytes) -> LlmAnswer:
    """The answer in an OpenAI chat-completions response body."""
    try:
        document: Any = orjson.loads(body)
        content = document["choices"][0]["message"]["content"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        raise AnswerError(f"not a chat-completions response ({type(exc).__name__}: {exc})") from None
    if not isinstance(content, str):
        raise AnswerError("the response has no text content")
    return parse_answer(content)


def parse_answer(content: str) -> LlmAnswer:
    try:
        return LlmAnswer.model_validate_json(content)
    except ValidationError as exc:
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
                            for e in exc.errors(include_url=False)[:3])
        raise AnswerError(f"the model's answer is not the requested JSON: {summary}") from None
