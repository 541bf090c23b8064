"""What ingest reports when input is unusable, at the level of the request or of one alert."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class PayloadError(ValueError):
    """The whole request body is unusable; the bridge answers ``status`` with ``message``."""

    def __init__(self, message: str, status: int = 400) -> None:
        if status not in (400, 422):
            raise ValueError(f"PayloadError status must be 400 or 422, not {status}")
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class AlertProblem:
    """One alert of a batch is invalid; ``index`` is its position in the sender's list."""

    index: int
    reason: str


class InvalidAlert(ValueError):
    """One alert is rejected; ``str(error)`` is why, in Alertmanager's words where it has them."""


def multi_error_text(problems: Iterable[AlertProblem]) -> str:
    """The reasons joined as Alertmanager's types.MultiError does for its POST /alerts 400 body."""
    return "; ".join(problem.reason for problem in problems)
