"""Prometheus/Alertmanager duration strings: ``1h30m``, ``500ms``, ``7d``, ``2w``, ``1y``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNIT_SECONDS = {
    "y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001,
}
# Units must appear largest first and at most once, as in prometheus/common model.ParseDuration.
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_ORDER = ("y", "w", "d", "h", "m", "s", "ms")


def parse_duration(text: str) -> timedelta:
    """Parse a Prometheus duration; ``0`` is allowed, an empty string or unknown unit is not.

    No whitespace is trimmed: Alertmanager refuses `` 30s``, and so does this.
    """
    if text == "0":
        return timedelta(0)
    match = _DURATION.fullmatch(text)  # fullmatch: `$` would accept a trailing newline
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"not a valid duration: {text!r} (expected e.g. 30s, 5m, 1h30m, 7d)")
    seconds = sum(int(value) * _UNIT_SECONDS[unit] for unit, value in zip(_ORDER, match.groups()) if value)
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """A Prometheus spelling of a duration in days and smaller units (parse_duration reads it back)."""
    millis = round(delta.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    parts = []
    for unit in _ORDER[2:]:  # days at most: "30d" reads better than "4w2d"
        size = round(_UNIT_SECONDS[unit] * 1000)
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
