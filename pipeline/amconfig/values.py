"""Value types of the configuration: durations, URLs, host:port, label names, time zones."""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta
from urllib.parse import urlsplit

# prometheus/common model.LabelName.IsValid (legacy validation in common v0.38).
LABEL_NAME_RE = re.compile(r"\A[a-zA-Z_][a-zA-Z0-9_]*\Z")

_MAX_INT64 = (1 << 63) - 1


def is_valid_label_name(name: str) -> bool:
    return LABEL_NAME_RE.match(name) is not None


# prometheus/common model.ParseDuration (v0.38): units largest first, each at most once, no sign, no
# fraction, no whitespace; "0" alone is allowed.
_MODEL_DURATION = re.compile(
    r"\A(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?\Z"
)
_MODEL_UNITS_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


def parse_model_duration(text: str) -> timedelta:
    """Alertmanager's duration syntax (``30s``, ``1h30m``, ``7d``); raises ValueError with Go's wording."""
    if text == "0":
        return timedelta(0)
    if text == "":
        raise ValueError("empty duration string")
    found = _MODEL_DURATION.match(text)
    if found is None:
        raise ValueError(f'not a valid duration string: "{text}"')
    millis = 0
    for value, unit_ms in zip(found.groups(), _MODEL_UNITS_MS):
        if value is not None:
            millis += int(value) * unit_ms
            if millis * 1_000_000 > _MAX_INT64:
                raise ValueError("duration out of range")
    return timedelta(milliseconds=millis)


# Go time.ParseDuration (pushover retry/expire).
_GO_UNITS_NS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_GO_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def parse_go_duration(text: str) -> timedelta:
    original = text
    if text in ("0", "+0", "-0"):
        return timedelta(0)
    if not text:
        raise ValueError(f'time: invalid duration "{original}"')
    negative = text[0] == "-"
    if text[0] in "+-":
        text = text[1:]
    if not text:
        raise ValueError(f'time: invalid duration "{original}"')
    total = 0.0
    pos = 0
    while pos < len(text):
        found = _GO_PART.match(text, pos)
        assert found is not None
        number, unit = found.group(1), found.group(2)
        if number in ("", ".") :
            raise ValueError(f'time: invalid duration "{original}"')
        if unit == "":
            raise ValueError(f'time: missing unit in duration "{original}"')
        if unit not in _GO_UNITS_NS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{original}"')
        total += float(number) * _GO_UNITS_NS[unit]
        pos = found.end()
    if total > _MAX_INT64:
        raise ValueError(f'time: invalid duration "{original}"')
    nanos = -total if negative else total
    return timedelta(microseconds=nanos / 1000)


def check_url(text: str) -> str:
    """Alertmanager's config.URL: http or https, with a host (``parseURL``)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError(f'parse "{text}": net/url: invalid control character in URL')
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise ValueError(f'parse "{text}": {exc}') from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f'unsupported scheme "{scheme}" for URL')
    netloc = parts.netloc
    hostport = netloc.rsplit("@", 1)[-1]
    if hostport.startswith("["):
        end = hostport.find("]")
        port = hostport[end + 1 :] if end >= 0 else ""
        host = hostport[: end + 1]
    else:
        host, sep, port = hostport.partition(":")
        port = sep + port
    if port and (not port.startswith(":") or not port[1:].isdigit()) and port != ":":
        raise ValueError(f'parse "{text}": invalid port "{port}" after host')
    for found in re.finditer(r"%(.{0,2})", text):
        if not re.fullmatch(r"[0-9A-Fa-f]{2}", found.group(1)):
            raise ValueError(f'parse "{text}": invalid URL escape "{found.group(0)}"')
    for char in host:
        if char in ' <>"{}|\\^`':
            raise ValueError(f'parse "{text}": invalid character "{char}" in host name')
    if not host:
        raise ValueError("missing host for URL")
    return text


def split_host_port(text: str) -> tuple[str, str]:
    """Go's net.SplitHostPort, with its error wording."""

    def fail(why: str) -> ValueError:
        return ValueError(f"address {text}: {why}")

    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise fail("missing ']' in address")
        host = text[1:end]
        rest = text[end + 1 :]
        if not rest:
            raise fail("missing port in address")
        if not rest.startswith(":"):
            raise fail("missing port in address" if rest[0] != ":" else "too many colons in address")
        port = rest[1:]
        if ":" in port:
            raise fail("too many colons in address")
    else:
        colons = text.count(":")
        if colons == 0:
            raise fail("missing port in address")
        if colons > 1:
            raise fail("too many colons in address")
        host, _, port = text.partition(":")
        if "[" in host or "]" in host:
            raise fail("unexpected '[' in address" if "[" in host else "unexpected ']' in address")
    if "[" in port or "]" in port:
        raise fail("unexpected '[' in address" if "[" in port else "unexpected ']' in address")
    return host, port


def check_time_zone(name: str) -> str:
    """Go's time.LoadLocation: "" and "UTC" are UTC, "Local" the local zone, else an IANA name."""
    if name in ("", "UTC", "Local"):
        return name
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name}") from None
    return name
