"""Poll sources: ask Prometheus (``GET /api/v1/alerts``), Alertmanager (``GET /api/v2/alerts``) or any JSON
API (the generic mapping) for its current alerts every ``poll.interval``.

A poll sees which alerts are active, not when they end: every alert still firing gets
``endsAt = poll time + poll.ends_at_intervals × poll.interval`` (4 × by default, as Prometheus gives
each alert it sends ``endsAt = now + 4 × max(evaluation interval, resend delay)``), and keeps its own
end when that is earlier. Each poll moves the end forward; an alert gone from the upstream stops being
refreshed and the dedup stage resolves it when that end passes, 3 to 4 intervals after the last poll
that showed it. So up to 3 failed polls in a row resolve nothing, and the source keeps no state: a
restart, or a second runner polling the same upstream, changes nothing downstream (the same labels
give the same fingerprint; a refresh that changes only the end is not forwarded by dedup).

Each URL of a source is polled on its own, with its own circuit breaker: an HA pair of Prometheus
servers with one of them down keeps its alerts flowing (the source is ``degraded``, not ``failing``).
The rate limit, when set, counts upstream requests. An answer is read up to ``limits.max_body_bytes``
and may hold at most ``limits.max_alerts`` alerts; a larger one is a failed poll (nothing of it is
written) that says which limit to raise.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson

from pipeline.circuit_breaker import CircuitBreaker
from pipeline.ingest.errors import PayloadError
from pipeline.runtime.raw_writer import RawWriter
from pipeline.sources.base import SourceBase, SourceContext, client_tls_context, wait_or_stop
from pipeline.sources.model import PollConfig, Source

log = logging.getLogger(__name__)

API_PATHS = {"prometheus": "/api/v1/alerts", "alertmanager": "/api/v2/alerts", "json": ""}


class UpstreamError(Exception):
    """A poll that got no usable answer: the message says what the upstream did."""


@dataclass
class Upstream:
    base_url: str
    breaker: CircuitBreaker
    state: str = "starting"
    detail: str = "not polled yet"
    error: str | None = None  # what the last failed poll said
    alerts: int | None = None  # alerts in the last good answer
    last_poll: datetime | None = None
    polls: int = field(default=0)


class PollSource(SourceBase):
    def __init__(self, source: Source, writer: RawWriter, context: SourceContext):
        super().__init__(source, writer, context)
        assert source.poll is not None
        self.config: PollConfig = source.poll
        self.upstreams = [Upstream(url, self.new_breaker()) for url in self.config.urls]

    # -- HTTP -----------------------------------------------------------------------------------------
    def client(self) -> httpx.AsyncClient:
        config = self.config
        headers = {"Accept": "application/json", "User-Agent": "alert-pipeline-poll"}
        auth: httpx.Auth | None = None
        if config.auth.type == "bearer":
            headers["Authorization"] = f"Bearer {config.auth.token.get_secret_value()}"
        elif config.auth.type == "basic":
            auth = httpx.BasicAuth(config.auth.username, config.auth.password.get_secret_value())
        tls = client_tls_context(config.tls)
        return httpx.AsyncClient(
            headers=headers, auth=auth, verify=tls if tls is not None else True,
            timeout=httpx.Timeout(config.timeout.total_seconds()), follow_redirects=False,
            limits=httpx.Limits(max_connections=len(config.urls) * 2, max_keepalive_connections=len(config.urls)),
        )

    def request(self, base_url: str) -> tuple[str, list[tuple[str, str]]]:
        params = list(self.config.params.items())
        params += [("filter", matcher) for matcher in self.config.filter]
        return base_url + API_PATHS[self.source.type], params

    async def fetch(self, client: httpx.AsyncClient, base_url: str) -> Any:
        """The decoded JSON answer of one poll; UpstreamError for anything else (status, size, not JSON)."""
        url, params = self.request(base_url)
        limit = self.source.limits.max_body_bytes
        try:
            async with client.stream("GET", url, params=params) as response:
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise UpstreamError(f"answer of {declared} bytes exceeds limits.max_body_bytes ({limit})")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise UpstreamError(f"answer exceeds limits.max_body_bytes ({limit} bytes)")
                    chunks.append(chunk)
                body = b"".join(chunks)
                if response.status_code != 200:
                    raise UpstreamError(f"HTTP {response.status_code}: {_excerpt(body)}")
        except httpx.TimeoutException:
            raise UpstreamError(f"no answer within {self.config.timeout.total_seconds():g} s") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{type(exc).__name__}: {exc}") from None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"answer is not JSON: {exc}") from None

    # -- running ------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        interval = self.config.interval.total_seconds()
        async with self.client() as client:
            due = time.monotonic()
            while not stop.is_set():
                await asyncio.gather(*(self.poll(client, upstream, stop) for upstream in self.upstreams))
                self._summarize()
                due += interval
                now = time.monotonic()
                if due < now:  # a poll took longer than the interval: skip the missed turns, do not burst
                    due = now + interval
                if await wait_or_stop(stop, due - now):
                    break
        self.set_health("stopped", "stopped")

    async def poll(self, client: httpx.AsyncClient, upstream: Upstream, stop: asyncio.Event) -> None:
        if not upstream.breaker.allow(time.monotonic()):
            self.upstream_call(upstream.base_url, "skipped")
            upstream.state = "failing"
            upstream.detail = (f"circuit open after {upstream.breaker.consecutive_failures} failed polls, not polled "
                               f"for {self.source.breaker.cooldown.total_seconds():g} s; last error: {upstream.error}")
            return
        if not await self.take_token(stop):
            upstream.breaker.release_probe()
            return
        polled_at = datetime.now(timezone.utc)
        upstream.last_poll, upstream.polls = polled_at, upstream.polls + 1
        try:
            records = self.records(await self.fetch(client, upstream.base_url), polled_at)
        except UpstreamError as exc:
            self._failed(upstream, str(exc))
            return
        keys, values = records
        if not await self.store_until_done(keys, values, None, stop):
            upstream.breaker.release_probe()
            return
        upstream.breaker.record_success()
        self.breaker_metric(upstream.base_url, upstream.breaker)
        self.upstream_call(upstream.base_url, "ok")
        upstream.state, upstream.detail, upstream.alerts = "ok", f"{len(values)} alerts", len(values)

    def records(self, payload: Any, polled_at: datetime) -> tuple[list[bytes | None], list[bytes]]:
        """The records of one answer; UpstreamError (the poll failed) when it is unusable as a whole."""
        valid_until = polled_at + self.config.ends_at_intervals * self.config.interval
        try:
            parsed = self.parse(payload, received_at=polled_at, stamp=self.stamp(valid_until), poll=True)
        except PayloadError as exc:
            self.metrics.rejected("bad_payload")
            raise UpstreamError(f"unexpected answer: {exc.message}") from None
        total = len(parsed.alerts) + len(parsed.problems)
        if total > self.source.limits.max_alerts:
            self.metrics.rejected("too_large", total)
            raise UpstreamError(f"{total} alerts in one answer; the source takes at most "
                                f"{self.source.limits.max_alerts} (raise limits.max_alerts)")
        keys, values, problems = self.encode(parsed)
        if problems:
            log.warning("source %s: %d alerts refused, e.g. alert %d: %s", self.name, len(problems),
                        problems[0].index, problems[0].reason)
        return keys, values

    def _failed(self, upstream: Upstream, detail: str) -> None:
        upstream.breaker.record_failure(time.monotonic())
        self.breaker_metric(upstream.base_url, upstream.breaker)
        self.upstream_call(upstream.base_url, "error")
        upstream.state, upstream.detail, upstream.error = "failing", detail, detail
        log.warning("source %s: poll of %s failed: %s", self.name, upstream.base_url, detail)

    def _summarize(self) -> None:
        failing = [u for u in self.upstreams if u.state == "failing"]
        if not failing:
            self.set_health("ok", f"{sum(u.alerts or 0 for u in self.upstreams)} alerts from "
                                  f"{len(self.upstreams)} upstreams")
        elif len(failing) < len(self.upstreams):
            self.set_health("degraded", f"{len(failing)} of {len(self.upstreams)} upstreams failing: "
                                        + "; ".join(f"{u.base_url}: {u.detail}" for u in failing))
        else:
            self.set_health("failing", "; ".join(f"{u.base_url}: {u.detail}" for u in failing))

    # -- check --connect and status -------------------------------------------------------------------
    async def probe(self) -> str:
        now = datetime.now(timezone.utc)
        lines, errors = [], []
        async with self.client() as client:
            for upstream in self.upstreams:
                try:
                    payload = await self.fetch(client, upstream.base_url)
                    parsed = self.parse(payload, received_at=now, stamp=self.stamp(now + timedelta(minutes=1)),
                                        poll=True)
                except (UpstreamError, PayloadError) as exc:
                    errors.append(f"{upstream.base_url}: {exc}")
                    continue
                invalid = f", {len(parsed.problems)} invalid" if parsed.problems else ""
                lines.append(f"{upstream.base_url}: {len(parsed.alerts)} alerts{invalid}")
        if errors:
            raise UpstreamError("; ".join(errors + lines))
        return "; ".join(lines)

    def extra_status(self) -> dict[str, Any]:
        return {"upstreams": [
            {"url": u.base_url, "state": u.state, "detail": u.detail, "alerts": u.alerts, "polls": u.polls,
             "last_poll": u.last_poll.isoformat(timespec="seconds") if u.last_poll else None,
             "breaker": u.breaker.state(time.monotonic()).name.lower()}
            for u in self.upstreams]}


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", "replace").replace("\n", " ").strip()
    return text + ("..." if len(body) > limit else "")
