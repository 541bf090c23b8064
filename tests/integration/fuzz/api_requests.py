"""Requests against the Alertmanager API's alert and silence endpoints, valid and hostile, each with the
statuses it may get.

Drawn from a seeded ``random.Random`` rather than hypothesis: the point is volume (ten thousand
requests inside CI's budget) through the access layer and every handler, with an oracle per request;
schemathesis (tests/integration/api/test_api_fuzz.py) covers conformance to the OpenAPI document.
A failing run prints its seed (API_FUZZ_SEED reproduces it).

Mix: filters and flags for GET /alerts, /alerts/groups and /silences (well-formed and broken matchers,
unbalanced regexes, deep nesting, unicode, long values), silence ids (existing, unknown, not UUIDs),
POST /silences bodies mutated from a valid one (missing and mistyped fields, bad times, bad matchers,
not JSON, not an object, over the body limit, over the silence size limit), DELETE, and requests with
missing, wrong or malformed credentials.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone


@dataclass
class ApiRequest:
    kind: str
    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    allowed: frozenset[int] = frozenset()  # statuses this request may get

    def curl(self, base_url: str) -> str:
        from urllib.parse import urlencode

        query = f"?{urlencode(self.params)}" if self.params else ""
        headers = " ".join(f"-H '{k}: {v}'" for k, v in self.headers.items())
        body = f" --data-binary '{self.body[:300].decode('utf-8', 'replace')}'" if self.body else ""
        more = f" (body {len(self.body)} bytes)" if self.body and len(self.body) > 300 else ""
        url = f"{base_url}{self.path}{query}"
        url = url if len(url) <= 400 else f"{url[:400]}... ({len(url)} characters)"
        return f"curl -sk -X {self.method} '{url}' {headers}{body}{more}"


GOOD_MATCHERS = ['alertname="A"', 'service=~"db|web"', 'severity!="info"', 'instance!~"i[0-9]+"', "team=db",
                 'x=""', 'a="ü"', 'a="with \\"quote\\""', 'a=~".*"', 'b=~"(?i)Case"', 'le="0.5"', "a=" + "x" * 5000,
                 'a=~"' + "(" * 600 + ")" * 600 + '"']  # Go (and Alertmanager 0.25) takes 998 nested groups
BAD_MATCHERS = ["foo", "", 'ä="ü"', "=", "a", 'a=~"("', 'a=~"[z-a]"', '{a="b"}', 'a=="b"', "a!b", 'a="unterminated',
                '"a"="b"', "0bad=x", 'a=~"' + "(" * 999 + ")" * 999 + '"', 'a=~"\\"', "a=~*", "\x00=x"]
BOOLS = ["true", "false", "1", "0", "yes", "off", "", "TRUE", "maybe", "\u00e9", "t"]
RECEIVERS = ["default", "team-.*", "(", "team-db|team-web", "[", "", ".*" * 50]


class ApiRequestGenerator:
    def __init__(self, seed: int, auth_header: str, *, wrong_password_header: str, max_body_bytes: int,
                 max_silence_size_bytes: int, write_budget: int = 150) -> None:
        self.random = random.Random(seed)
        # Requests that store something (a silence created, updated or expired) wait for the broker and
        # the view's read-back; a budget keeps the run's length dominated by what is fuzzed, not by that.
        self.write_budget = write_budget
        self.auth = {"Authorization": auth_header}
        self.wrong_password = wrong_password_header
        self.max_body_bytes = max_body_bytes
        self.max_silence_size_bytes = max_silence_size_bytes
        assert max_silence_size_bytes + 2000 < max_body_bytes, "the size-limit case must pass the body limit"
        self.silence_ids: list[str] = []  # created so far, for GET/DELETE/updates

    def __iter__(self):
        return self

    def __next__(self) -> ApiRequest:
        r = self.random.random()
        if r < 0.08:
            return self.unauthenticated()
        if r < 0.30:
            return self.get_alerts("/api/v2/alerts")
        if r < 0.45:
            return self.get_alerts("/api/v2/alerts/groups")
        if r < 0.57:
            return self.get_silences()
        if r < 0.67:
            return self.silence_by_id("GET")
        if r < 0.72:
            return self.silence_by_id("DELETE")
        return self.post_silence()

    # -- pieces
    def matcher(self) -> str:
        return self.random.choice(GOOD_MATCHERS if self.random.random() < 0.6 else BAD_MATCHERS)

    def filters(self) -> tuple[list[tuple[str, str]], bool]:
        params, bad = [], False
        for _ in range(self.random.randint(0, 3)):
            text = self.matcher()
            bad |= text not in GOOD_MATCHERS
            params.append(("filter", text))
        return params, bad

    def unauthenticated(self) -> ApiRequest:
        choice = self.random.randrange(5)
        headers = [{}, {"Authorization": self.wrong_password},
                   {"Authorization": "Basic " + base64.b64encode(b"nobody:x").decode()},
                   {"Authorization": "Bearer " + uuid.uuid4().hex}, {"Authorization": "Basic %%%"}][choice]
        method, path = self.random.choice([("GET", "/api/v2/alerts"), ("GET", "/api/v2/silences"),
                                           ("POST", "/api/v2/silences"), ("DELETE", f"/api/v2/silence/{uuid.uuid4()}"),
                                           ("GET", "/api/v2/alerts/groups"), ("GET", "/api/v2/status")])
        body = self.valid_silence() if method == "POST" else None
        return ApiRequest("unauthenticated", method, path, body=body, headers=headers, allowed=frozenset({401}))

    def get_alerts(self, path: str) -> ApiRequest:
        params, bad = self.filters()
        for flag in ("active", "silenced", "inhibited", "unprocessed"):
            if self.random.random() < 0.3:
                params.append((flag, self.random.choice(BOOLS)))
        if self.random.random() < 0.3:
            receiver = self.random.choice(RECEIVERS)
            bad |= receiver in ("(", "[")
            params.append(("receiver", receiver))
        self.random.shuffle(params)
        return ApiRequest(f"GET {path.rsplit('/', 1)[-1]}", "GET", path, params, headers=self.auth,
                          allowed=frozenset({400}) if bad else frozenset({200}))

    def get_silences(self) -> ApiRequest:
        params, bad = self.filters()
        return ApiRequest("GET silences", "GET", "/api/v2/silences", params, headers=self.auth,
                          allowed=frozenset({400}) if bad else frozenset({200}))

    def _spend_write(self) -> bool:
        if self.write_budget <= 0:
            return False
        self.write_budget -= 1
        return True

    def silence_by_id(self, method: str) -> ApiRequest:
        choice = self.random.random()
        if choice < 0.4 and self.silence_ids and (method == "GET" or self._spend_write()):
            silence_id, allowed = self.random.choice(self.silence_ids), {200}
        elif choice < 0.7:
            silence_id, allowed = str(uuid.uuid4()), {404}
        else:
            silence_id = self.random.choice(["not-a-uuid", "1", "6b7b1e8e-0000-4000-8000", "%00", "é" * 36,
                                             "6b7b1e8e0000400080000000000000000", uuid.uuid4().hex + "0"])
            allowed = {422, 404}  # 404: no route matches (an escaped slash, say)
        return ApiRequest(f"{method} silence", method, f"/api/v2/silence/{silence_id}", headers=self.auth,
                          allowed=frozenset(allowed))

    def valid_silence(self, **changes) -> bytes:
        now = datetime.now(timezone.utc)
        body = {"matchers": [{"name": "alertname", "value": f"Fuzz{self.random.randrange(1000)}", "isRegex": False}],
                "createdBy": "fuzz", "comment": "fuzzing", "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(minutes=self.random.randint(1, 600))).isoformat(), **changes}
        return json.dumps(body).encode()

    def post_silence(self) -> ApiRequest:
        now = datetime.now(timezone.utc)
        r = self.random.random()
        headers = {**self.auth, "Content-Type": "application/json"}
        writes = r < 0.16 and self._spend_write()
        if r < 0.16 and not writes:
            r = 0.30  # out of budget: something that stores nothing instead
        if r < 0.12:
            return ApiRequest("POST silence valid", "POST", "/api/v2/silences", body=self.valid_silence(),
                              headers=headers, allowed=frozenset({200}))
        if r < 0.16 and self.silence_ids:  # an update of an existing one (in place, or replacing it)
            body = self.valid_silence(id=self.random.choice(self.silence_ids))
            return ApiRequest("POST silence update", "POST", "/api/v2/silences", body=body, headers=headers,
                              allowed=frozenset({200, 400}))
        if r < 0.20:
            body = self.valid_silence(comment="x" * (self.max_body_bytes + 10))
            return ApiRequest("POST silence over the body limit", "POST", "/api/v2/silences", body=body,
                              headers=headers, allowed=frozenset({413}))
        if r < 0.24:
            body = self.valid_silence(comment="y" * (self.max_silence_size_bytes + 1000))
            return ApiRequest("POST silence over the size limit", "POST", "/api/v2/silences", body=body,
                              headers=headers, allowed=frozenset({400}))
        if r < 0.32:
            body = self.random.choice([b"", b"{", b"[]", b"null", b"42", b'"s"', b"\xff\xfe", b"{" * 5000,
                                       b'{"matchers": [' + b"[" * 3000 + b"]" * 3000 + b"]}"])
            return ApiRequest("POST silence not an object", "POST", "/api/v2/silences", body=body, headers=headers,
                              allowed=frozenset({400, 422}))
        base = json.loads(self.valid_silence())
        mutation = self.random.randrange(12)
        if mutation in (2, 5, 10) and not self._spend_write():  # may well be valid: stored
            mutation = 3
        if mutation == 0:
            del base[self.random.choice(["matchers", "createdBy", "comment", "startsAt", "endsAt"])]
        elif mutation == 1:
            base[self.random.choice(list(base))] = self.random.choice([1, True, None, [], {}, 1.5])
        elif mutation == 2:
            base["startsAt"] = self.random.choice(["", "yesterday", "2020-13-40T00:00:00Z", "0001-01-01T00:00:00Z",
                                                   "9999-12-31T23:59:59Z", "2024-02-30T10:00:00+25:00"])
        elif mutation == 3:
            base["endsAt"] = (now - timedelta(hours=1)).isoformat()
        elif mutation == 4:
            base["matchers"] = []
        elif mutation == 5:
            base["matchers"] = [{"name": self.random.choice(["", "0bad", "a b", "ok"]),
                                 "value": self.random.choice(["(", "", "x" * 2000, ".*"]),
                                 "isRegex": self.random.choice([True, False, "yes", None])}]
        elif mutation == 6:
            base["matchers"] = [{"name": "a", "value": "(" * 400, "isRegex": True}]
        elif mutation == 7:
            base["id"] = self.random.choice([str(uuid.uuid4()), "nope", 5])
        elif mutation == 8:
            base["matchers"] = [{"name": "a", "value": "", "isRegex": False}]  # matches everything: refused
        elif mutation == 9:
            base["matchers"] = [{"name": "a", "value": "b", "isRegex": False, "isEqual": "no"}]
        elif mutation == 10:
            base["extra"] = {"nested": [1, 2, {"x": None}]}
        else:
            base["matchers"] = "alertname=A"
        body = json.dumps(base).encode()
        # Where the outcome is certain, only it; else (a start in the past is moved to now, a long value
        # is fine...) any answer a client error or a success may be.
        certain = {0: {422}, 1: {400, 422}, 3: {400}, 4: {422}, 6: {400}, 8: {400}, 9: {422}, 10: {200}, 11: {422}}
        return ApiRequest(f"POST silence mutation {mutation}", "POST", "/api/v2/silences", body=body, headers=headers,
                          allowed=frozenset(certain.get(mutation, {200, 400, 404, 422})))
