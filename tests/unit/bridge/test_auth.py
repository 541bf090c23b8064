import base64
import hashlib
import hmac

import pytest

from pipeline.bridge import auth as auth_module
from pipeline.bridge.auth import ACCEPTED, check_auth, header_value, sign
from pipeline.bridge.sources import Source, load_sources
from pipeline.paths import DEPLOY_DIR

BODY = b'{"alerts":[{"labels":{"alertname":"DiskFull"},"status":"firing"}]}'
NOW = 1_700_000_000.0
SECRET = "hmac-secret-under-test"
OLD, NEW = "old-token-1234567890", "new-token-abcdefghij"


def auth_of(**auth):
    return Source(name="s", type="grafana", auth=auth).auth


BEARER = auth_of(type="bearer", tokens=[NEW, OLD])
HMAC_PLAIN = auth_of(type="hmac", secret=SECRET)  # defaults: X-Signature, sha256, hex, "sha256="
HMAC_TS = auth_of(type="hmac", secret=SECRET, header="X-Sig", prefix="", timestamp_header="X-Ts", tolerance="5m")


def assert_refused(result, status, reason_part, *never):
    assert not result.ok
    assert result.status == status
    assert reason_part in result.reason
    for text in never:
        assert text not in result.reason


# --- none and bearer -------------------------------------------------------------------------------


def test_none_accepts_anything():
    assert check_auth(auth_of(type="none"), {}, b"", NOW) == ACCEPTED
    assert ACCEPTED.ok and ACCEPTED.status == 200


@pytest.mark.parametrize("token", [NEW, OLD])
def test_bearer_accepts_every_configured_token_for_rotation(token):
    assert check_auth(BEARER, {"Authorization": f"Bearer {token}"}, BODY, NOW).ok


@pytest.mark.parametrize("headers", [
    {"authorization": f"Bearer {NEW}"},
    {"AUTHORIZATION": f"bearer {NEW}"},
    {"Authorization": f"  BEARER   {NEW}  "},
])
def test_bearer_header_name_and_scheme_are_case_insensitive(headers):
    assert check_auth(BEARER, headers, BODY, NOW).ok


@pytest.mark.parametrize("headers, reason", [
    ({}, "missing Authorization header"),
    ({"Authorization": ""}, "missing Authorization header"),
    ({"Authorization": "   "}, "missing Authorization header"),
    ({"Authorization": f"Basic {NEW}"}, "does not carry a Bearer token"),
    ({"Authorization": "Bearer"}, "does not carry a Bearer token"),
    ({"Authorization": "Bearer    "}, "does not carry a Bearer token"),
    ({"Authorization": NEW}, "does not carry a Bearer token"),
])
def test_bearer_missing_or_unreadable_credentials_are_401_with_a_challenge(headers, reason):
    result = check_auth(BEARER, headers, BODY, NOW)
    assert_refused(result, 401, reason, NEW, OLD)
    assert result.www_authenticate == "Bearer"


@pytest.mark.parametrize("presented", ["wrong", NEW[:-1], NEW + "x", NEW.upper(), f"{NEW},{OLD}"])
def test_bearer_wrong_token_is_403_and_reveals_nothing(presented):
    result = check_auth(BEARER, {"Authorization": f"Bearer {presented}"}, BODY, NOW)
    assert_refused(result, 403, "the bearer token is not accepted", NEW, OLD, presented)
    assert result.www_authenticate is None


def test_bearer_compares_against_every_token_even_after_a_match(monkeypatch):
    calls = []
    compare_digest = hmac.compare_digest

    def counting(a, b):
        calls.append(len(a) == len(b))
        return compare_digest(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", counting)
    several = auth_of(type="bearer", tokens=["a-token", "b-token", "c-token"])
    assert check_auth(several, {"Authorization": "Bearer a-token"}, b"", NOW).ok
    assert len(calls) == 3 and all(calls)  # all compared, always as equal-length digests


def test_bearer_sign_uses_the_first_token():
    assert sign(BEARER, BODY) == {"Authorization": f"Bearer {NEW}"}


# --- hmac without timestamp --------------------------------------------------------------------------


def github_style(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_hmac_accepts_a_signature_computed_independently():
    assert check_auth(HMAC_PLAIN, {"X-Signature": github_style(SECRET, BODY)}, BODY, NOW).ok
    assert sign(HMAC_PLAIN, BODY) == {"X-Signature": github_style(SECRET, BODY)}


def test_hmac_header_lookup_is_case_insensitive_and_hex_case_does_not_matter():
    value = github_style(SECRET, BODY)
    assert check_auth(HMAC_PLAIN, {"x-signature": value}, BODY, NOW).ok
    assert check_auth(HMAC_PLAIN, {"X-SIGNATURE": "sha256=" + value[7:].upper()}, BODY, NOW).ok


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_hmac_algorithms_and_encodings(algorithm, encoding):
    config = auth_of(type="hmac", secret=SECRET, algorithm=algorithm, encoding=encoding, prefix="")
    digest = hmac.new(SECRET.encode(), BODY, algorithm).digest()
    value = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    assert check_auth(config, {"X-Signature": value}, BODY, NOW).ok
    assert sign(config, BODY) == {"X-Signature": value}


def test_hmac_missing_signature_is_401():
    for headers in ({}, {"X-Signature": ""}, {"X-Signature": "  "}):
        assert_refused(check_auth(HMAC_PLAIN, headers, BODY, NOW), 401, "missing X-Signature header")


def test_hmac_signature_without_the_configured_prefix_is_403():
    bare = github_style(SECRET, BODY)[len("sha256="):]
    result = check_auth(HMAC_PLAIN, {"X-Signature": bare}, BODY, NOW)
    assert_refused(result, 403, "X-Signature does not start with 'sha256='", SECRET, bare)


def test_hmac_wrong_prefix_is_403():
    value = "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    assert_refused(check_auth(HMAC_PLAIN, {"X-Signature": value}, BODY, NOW), 403, "does not start with", SECRET)


def test_hmac_prefix_where_none_is_configured_is_403():
    config = auth_of(type="hmac", secret=SECRET, prefix="")
    value = github_style(SECRET, BODY)
    assert_refused(check_auth(config, {"X-Signature": value}, BODY, NOW), 403, "is not hex-encoded")


@pytest.mark.parametrize("value", ["sha256=zz", "sha256=abc", "sha256=", "sha256=ab cd"])
def test_hmac_undecodable_signature_is_403(value):
    assert_refused(check_auth(HMAC_PLAIN, {"X-Signature": value}, BODY, NOW), 403, "is not hex-encoded", SECRET)


def test_hmac_undecodable_base64_is_403():
    config = auth_of(type="hmac", secret=SECRET, encoding="base64", prefix="")
    for value in ("not base64!", "é"):
        assert_refused(check_auth(config, {"X-Signature": value}, BODY, NOW), 403, "is not base64-encoded")


@pytest.mark.parametrize("signed_body, secret", [
    (BODY + b" ", SECRET),           # body changed after signing
    (BODY, SECRET + "x"),            # signed with another secret
    (b"", SECRET),
])
def test_hmac_signature_mismatch_is_403(signed_body, secret):
    value = github_style(secret, signed_body)
    result = check_auth(HMAC_PLAIN, {"X-Signature": value}, BODY, NOW)
    assert_refused(result, 403, "X-Signature does not match the body", SECRET, value)


def test_hmac_signature_is_over_raw_bytes_not_reencoded_json():
    respaced = b'{"alerts": [{"labels": {"alertname": "DiskFull"}, "status": "firing"}]}'
    headers = sign(HMAC_PLAIN, BODY)
    assert not check_auth(HMAC_PLAIN, headers, respaced, NOW).ok


# --- hmac with timestamp: replay guard ----------------------------------------------------------------


def ts_headers(timestamp: str, signed_over: str | None = None, body: bytes = BODY) -> dict[str, str]:
    """Headers for HMAC_TS; ``signed_over`` lets the signed timestamp differ from the sent one."""
    payload = f"{signed_over if signed_over is not None else timestamp}.".encode() + body
    return {"X-Ts": timestamp, "X-Sig": hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()}


def test_hmac_with_timestamp_accepts_an_independent_signature():
    assert check_auth(HMAC_TS, ts_headers("1700000000"), BODY, NOW).ok
    assert sign(HMAC_TS, BODY, NOW) == ts_headers("1700000000")


@pytest.mark.parametrize("offset", [-300, -299.5, 0, 299.5, 300])
def test_timestamp_within_tolerance_inclusive_is_accepted(offset):
    sent = f"{NOW + offset:.1f}".removesuffix(".0")
    assert check_auth(HMAC_TS, ts_headers(sent), BODY, NOW).ok


@pytest.mark.parametrize("offset", [-301, -300.001, 300.001, 301, 86400])
def test_timestamp_outside_tolerance_is_403(offset):
    sent = f"{NOW + offset:.3f}"
    result = check_auth(HMAC_TS, ts_headers(sent), BODY, NOW)
    assert_refused(result, 403, "timestamp outside the tolerance window")


def test_a_captured_request_replayed_later_is_refused():
    captured = sign(HMAC_TS, BODY, NOW)
    assert check_auth(HMAC_TS, captured, BODY, NOW + 60).ok
    result = check_auth(HMAC_TS, captured, BODY, NOW + 301)
    assert (result.ok, result.status, result.reason) == (False, 403, "timestamp outside the tolerance window")


def test_a_refreshed_timestamp_does_not_carry_the_old_signature():
    # The replayer sets a fresh timestamp but cannot re-sign: the timestamp is part of the signature.
    headers = ts_headers(str(int(NOW)), signed_over=str(int(NOW - 3600)))
    assert_refused(check_auth(HMAC_TS, headers, BODY, NOW), 403, "X-Sig does not match the body")


@pytest.mark.parametrize("timestamp", ["abc", "1e9", "-5", "17e8", "0x10", "1,700,000,000", "nan", "inf", "1.", ".5"])
def test_non_numeric_timestamp_is_401(timestamp):
    result = check_auth(HMAC_TS, {"X-Ts": timestamp, "X-Sig": "00"}, BODY, NOW)
    assert_refused(result, 401, "X-Ts is not a Unix time in seconds")


def test_missing_timestamp_is_401():
    signature = ts_headers(str(int(NOW)))["X-Sig"]
    assert_refused(check_auth(HMAC_TS, {"X-Sig": signature}, BODY, NOW), 401, "missing X-Ts header")


def test_huge_timestamp_is_outside_the_window():
    result = check_auth(HMAC_TS, {"X-Ts": "9" * 400, "X-Sig": "00"}, BODY, NOW)
    assert_refused(result, 403, "timestamp outside the tolerance window")


def test_sign_needs_a_timestamp_when_the_source_wants_one():
    with pytest.raises(ValueError, match="needs a timestamp"):
        sign(HMAC_TS, BODY)


def test_sign_for_no_auth_is_empty():
    assert sign(auth_of(type="none"), BODY) == {}


# --- the shipped Grafana source verifies what Grafana sends ------------------------------------------


def test_shipped_grafana_source_accepts_grafanas_signature_scheme():
    grafana = load_sources(DEPLOY_DIR / "local" / "sources", environ={}).get("grafana").auth
    secret = grafana.secret.get_secret_value()
    # Grafana's HMAC sender: hex(HMAC-SHA256(secret, "<unix seconds>:" + body)), no prefix.
    timestamp = str(int(NOW))
    signature = hmac.new(secret, f"{timestamp}:".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {"X-Grafana-Alerting-Signature": signature, "X-Grafana-Alerting-Timestamp": timestamp}
    assert check_auth(grafana, headers, BODY, NOW).ok
    assert sign(grafana, BODY, NOW) == headers


# --- reasons never carry secrets ---------------------------------------------------------------------


def test_no_reason_contains_a_secret_or_the_presented_credential():
    presented = "presented-credential-value"
    cases = [
        (BEARER, {"Authorization": f"Bearer {presented}"}),
        (BEARER, {"Authorization": f"Token {presented}"}),
        (HMAC_PLAIN, {"X-Signature": presented}),
        (HMAC_PLAIN, {"X-Signature": f"sha256={presented}"}),
        (HMAC_PLAIN, {"X-Signature": "sha256=" + "ab" * 32}),
        (HMAC_TS, {"X-Ts": presented, "X-Sig": presented}),
        (HMAC_TS, {"X-Ts": str(int(NOW)), "X-Sig": presented}),
    ]
    for config, headers in cases:
        result = check_auth(config, headers, BODY, NOW)
        assert not result.ok
        for text in (presented, SECRET, NEW, OLD, "ab" * 32):
            assert text not in result.reason


def test_header_value_lookup():
    headers = {"Content-Type": "application/json", "x-sig": "1"}
    assert header_value(headers, "content-type") == "application/json"
    assert header_value(headers, "X-Sig") == "1"
    assert header_value(headers, "X-Other") is None
