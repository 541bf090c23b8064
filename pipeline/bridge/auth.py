"""Checking that a request comes from its source: bearer tokens and HMAC signatures.

Statuses: 401 when the credentials are missing or unreadable (no header, not a Bearer credential,
a timestamp that is not a number), 403 when they were read and refused (unknown token, wrong
signature, a timestamp outside the tolerance window). A ``reason`` names headers and what was wrong
with them, never a secret and never what the caller presented: it is meant for the response body
and the log.

Every comparison of a secret-derived value is constant-time (``hmac.compare_digest``), and a bearer
token is compared against every configured token without stopping at the first match, so neither
timing nor the reason tells a caller how close a guess was or which token matched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.sources.model import AuthConfig, BearerAuth, HmacAuth, NoAuth

# Unix time in seconds as senders write it (Grafana: integer seconds); fractions are tolerated.
_UNIX_SECONDS = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")


@dataclass(frozen=True)
class AuthResult:
    """The outcome of ``check_auth``: ``ok``, or the HTTP ``status`` and ``reason`` to answer with."""

    ok: bool
    status: int
    reason: str
    # For 401s of bearer sources: the value of the WWW-Authenticate header (RFC 9110 requires one).
    www_authenticate: str | None = None


ACCEPTED = AuthResult(ok=True, status=200, reason="authenticated")


def _missing(reason: str, challenge: str | None = None) -> AuthResult:
    return AuthResult(ok=False, status=401, reason=reason, www_authenticate=challenge)


def _refused(reason: str) -> AuthResult:
    return AuthResult(ok=False, status=403, reason=reason)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name; works for plain dicts and for case-insensitive mappings."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


def check_auth(auth: AuthConfig, headers: Mapping[str, str], body: bytes, now: float) -> AuthResult:
    """Decide whether a request with these headers and raw ``body`` may post, at Unix time ``now``."""
    if isinstance(auth, NoAuth):
        return ACCEPTED
    if isinstance(auth, BearerAuth):
        return _check_bearer(auth, headers)
    if isinstance(auth, HmacAuth):
        return _check_hmac(auth, headers, body, now)
    raise TypeError(f"unknown auth configuration {type(auth).__name__}")


def _check_bearer(auth: BearerAuth, headers: Mapping[str, str]) -> AuthResult:
    value = (header_value(headers, "Authorization") or "").strip()
    if not value:
        return _missing("missing Authorization header (expected: Bearer <token>)", "Bearer")
    scheme, _, credential = value.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return _missing("the Authorization header does not carry a Bearer token", "Bearer")
    # Digests have one length, so compare_digest's time does not depend on the tokens' lengths.
    presented = hashlib.sha256(credential.encode()).digest()
    matched = False
    for token in auth.tokens:
        configured = hashlib.sha256(token.get_secret_value().encode()).digest()
        matched |= hmac.compare_digest(presented, configured)  # `|=`, not `or`: no early exit
    return ACCEPTED if matched else _refused("the bearer token is not accepted")


def _check_hmac(auth: HmacAuth, headers: Mapping[str, str], body: bytes, now: float) -> AuthResult:
    signature = (header_value(headers, auth.header) or "").strip()
    if not signature:
        return _missing(f"missing {auth.header} header (HMAC signature of the body)")
    timestamp: str | None = None
    if auth.timestamp_header:
        timestamp = (header_value(headers, auth.timestamp_header) or "").strip()
        if not timestamp:
            return _missing(f"missing {auth.timestamp_header} header (Unix time of signing)")
        if not _UNIX_SECONDS.match(timestamp):
            return _missing(f"{auth.timestamp_header} is not a Unix time in seconds")
        sent_at = float(timestamp)
        # Checked before the signature: a captured request replayed later fails here even though
        # its signature is genuine. Exactly ±tolerance is still accepted.
        if not math.isfinite(sent_at) or abs(now - sent_at) > auth.tolerance.total_seconds():
            return _refused("timestamp outside the tolerance window")
    if auth.prefix:
        if not signature.startswith(auth.prefix):
            return _refused(f"{auth.header} does not start with {auth.prefix!r}")
        signature = signature[len(auth.prefix):]
    presented = _decode(signature, auth.encoding)
    if presented is None:
        return _refused(f"{auth.header} is not {auth.encoding}-encoded")
    expected = _digest(auth, auth.signed_bytes(body, timestamp))
    if not hmac.compare_digest(presented, expected):
        return _refused(f"{auth.header} does not match the body")
    return ACCEPTED


def _decode(signature: str, encoding: str) -> bytes | None:
    if encoding == "hex":
        return bytes.fromhex(signature) if _HEX.match(signature) and len(signature) % 2 == 0 else None
    try:
        return base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return None


def _digest(auth: HmacAuth, payload: bytes) -> bytes:
    return hmac.new(auth.secret.get_secret_value(), payload, auth.algorithm).digest()


def _encode(digest: bytes, encoding: str) -> str:
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def sign(auth: AuthConfig, body: bytes, timestamp: float | None = None) -> dict[str, str]:
    """The headers a sender adds so that ``check_auth`` accepts ``body`` (for tests and docs).

    Bearer sources use their first token. HMAC sources with a timestamp header need ``timestamp``
    (Unix seconds; sent as an integer, as Grafana does).
    """
    if isinstance(auth, NoAuth):
        return {}
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"Bearer {auth.tokens[0].get_secret_value()}"}
    if isinstance(auth, HmacAuth):
        headers: dict[str, str] = {}
        stamp: str | None = None
        if auth.timestamp_header:
            if timestamp is None:
                raise ValueError(f"signing needs a timestamp: the source expects {auth.timestamp_header}")
            stamp = str(int(timestamp))
            headers[auth.timestamp_header] = stamp
        digest = _digest(auth, auth.signed_bytes(body, stamp))
        headers[auth.header] = auth.prefix + _encode(digest, auth.encoding)
        return headers
    raise TypeError(f"unknown auth configuration {type(auth).__name__}")
