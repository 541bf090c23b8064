"""``POST /api/v2/silences/preview`` (a dry run of ``POST /api/v2/silences``) and the silence guard.

The preview takes the body ``POST /api/v2/silences`` takes (a PostableSilence, validated the same way,
with the same error answers) and writes nothing. It answers what the silence matches among the active
alerts now (the API view, recomputed status), which recorded notifications it would have muted over the
last ``since`` (query parameter, a duration such as ``6h``; default and maximum are settings), per
receiver with examples, and what the guard says. A separate path rather than ``?dryRun=true`` on the
existing endpoint: amtool's client drops query parameters, and a write endpoint that sometimes does not
write is an accident waiting to happen.

The guard runs inside ``POST /api/v2/silences`` after Alertmanager's own validation and before the
write; a refusal is a 400 whose body is a JSON string, like Alertmanager's other 400s, so amtool prints
it (``Error: [POST /silences][400] postSilencesBadRequest "silence guard rule max_active_percent
refuses..."``), with the rule also in the ``X-Silence-Guard-Rule`` header. Forcing: ``force=true`` in
the query, or the force marker in the comment (what amtool can send).

Authorization: both endpoints change or reveal silence state; :data:`REQUIRED_ROLE` is the role the
API's authorization layer must demand for the preview (the same as for creating a silence).

Bounds: the request body (:data:`MAX_BODY_BYTES`), the notification records read and the time spent
reading (``silences.preview_max_records``/``preview_max_seconds``: the answer says ``capped``), the
previews reading at once (``silences.preview_concurrency``), the alerts and examples listed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipeline.api.handlers import PREFIX, AlertmanagerApi, ApiError, _json, alert_json, bool_param, go_time, \
    parse_postable_silence
from pipeline.api.view import ApiView
from pipeline.durations import format_duration, parse_duration
from pipeline.matchers import Matchers
from pipeline.models import Alert, Notification, Silence
from pipeline.muting.preview import GuardRules, GuardVerdict, WouldHaveMuted, guard_silence, is_forced, matches_now
from pipeline.muting.silences import SilenceError, compile_matchers, validate_silence

log = logging.getLogger(__name__)

PREVIEW_PATH = f"{PREFIX}/silences/preview"
REQUIRED_ROLE = "silence"  # the auth layer's role for this endpoint: whoever may create silences
GUARD_RULE_HEADER = "X-Silence-Guard-Rule"
MAX_BODY_BYTES = 1024 * 1024


class History(Protocol):
    """The recorded notifications of a window (pipeline.notification_history.NotificationHistory)."""

    window: Any  # has .to_json()

    def __iter__(self): ...


HistoryFactory = Callable[[datetime, datetime], History]


def guard_rules(settings: Any) -> GuardRules:
    """The guard's rules from ``settings.silences`` (pipeline.settings.SilenceSettings)."""
    s = settings.silences
    return GuardRules(require_equality_matcher=s.guard_require_equality_matcher,
                      max_active_percent=None if s.guard_max_active_percent >= 100 else s.guard_max_active_percent,
                      min_matched_alerts=s.guard_min_matched_alerts, force_marker=s.guard_force_marker)


class SilencePreview:
    """The preview endpoint and the guard, over an :class:`ApiView`."""

    def __init__(self, view: ApiView, rules: GuardRules, history: HistoryFactory | None, *,
                 default_since: timedelta, max_since: timedelta, max_examples: int, max_alerts_shown: int,
                 concurrency: int = 2) -> None:
        self.view = view
        self.rules = rules
        self.history = history
        self.default_since = default_since
        self.max_since = max_since
        self.max_examples = max_examples
        self.max_alerts_shown = max_alerts_shown
        self._readers = asyncio.Semaphore(concurrency)

    def install(self, api: AlertmanagerApi) -> None:
        """Hook into the API: the guard on POST /silences, the preview route (with the API's readiness
        gate and error answers)."""
        api.silence_guard = self.check_post
        from pipeline.web.access import Requirement, Role

        api.extra_routes.append((Route(PREVIEW_PATH, api._handler(self.preview), methods=["POST"]),
                                 Requirement(Role(REQUIRED_ROLE))))

    @property
    def guard_enabled(self) -> bool:
        return self.rules.require_equality_matcher or self.rules.max_active_percent is not None

    # -- the guard of POST /api/v2/silences
    async def check_post(self, silence: Silence, request: Request) -> None:
        """Raise the 400 of a refused silence; log a forced one."""
        if not self.guard_enabled:
            return
        verdict = await self.verdict(silence, bool_param(request.query_params, "force", default=False))
        if not verdict.allowed:
            raise ApiError(400, verdict.refusal(self.rules), {GUARD_RULE_HEADER: verdict.rule or ""})
        if verdict.forced:
            log.warning("silence %s forced past guard rule %s: %s", silence.id, verdict.rule, verdict.reason)

    async def verdict(self, silence: Silence, force_flag: bool) -> GuardVerdict:
        matchers = compile_matchers(silence)
        now = datetime.now(timezone.utc)
        found = await asyncio.to_thread(matches_now, self._active_alerts(now), matchers, max_shown=0)
        return guard_silence(matchers, matched=found.matched, active=found.active,
                             forced=is_forced(silence.comment, force_flag, self.rules), rules=self.rules)

    def _active_alerts(self, now: datetime) -> list[Alert]:
        # A snapshot under the lock (a list copy); matching runs outside it, so the follower is not held up.
        with self.view.lock:
            return [entry.alert for entry in self.view.alerts(now)]

    # -- POST /api/v2/silences/preview
    async def preview(self, request: Request) -> Response:
        posted = parse_postable_silence(await _bounded_body(request, MAX_BODY_BYTES))
        now = datetime.now(timezone.utc)
        try:
            validate_silence(posted, now)
        except SilenceError as exc:
            raise ApiError(400, str(exc)) from None
        since = self._since(request)
        force_flag = bool_param(request.query_params, "force", default=False)
        matchers = compile_matchers(posted)
        active = self._active_alerts(now)
        found = await asyncio.to_thread(matches_now, active, matchers, max_shown=self.max_alerts_shown,
                                        show=lambda alert: self._shown(alert, now))
        verdict = guard_silence(matchers, matched=found.matched, active=found.active,
                                forced=is_forced(posted.comment, force_flag, self.rules), rules=self.rules)
        history = await self._history(matchers, now - since, now)
        return _json({
            "silence": {"matchers": str(matchers), "startsAt": go_time(max(posted.starts_at, now)),
                        "endsAt": go_time(posted.ends_at), "since": format_duration(since)},
            "guard": {**verdict.to_json(), "rules": self.rules.to_json()},
            "matchesNow": {"activeAlerts": found.active, "matchedAlerts": found.matched,
                           "alerts": found.shown, "alertsListed": len(found.shown), "capped": found.capped},
            "wouldHaveMuted": history,
        })

    def _since(self, request: Request) -> timedelta:
        values = request.query_params.getlist("since")
        if not values or values[-1] == "":
            return self.default_since
        too_long = ApiError(400, f"invalid since parameter: {values[-1]} is longer than the longest preview "
                                 f"window, {format_duration(self.max_since)}")
        try:
            since = parse_duration(values[-1])
        except ValueError as exc:
            raise ApiError(400, f"invalid since parameter: {exc}") from None
        except OverflowError:  # more days than a timedelta holds
            raise too_long from None
        if since <= timedelta(0):
            raise ApiError(400, "invalid since parameter: must be longer than 0s")
        if since > self.max_since:
            raise too_long
        return since

    def _shown(self, alert: Alert, now: datetime) -> dict[str, Any]:
        with self.view.lock:
            status = self.view.status(alert.labels, now)
            receivers = [route.receiver for route in self.view.route.match(alert.labels)]
        return alert_json(alert, status, receivers)

    async def _history(self, matchers: Matchers, start: datetime, end: datetime) -> dict[str, Any]:
        if self.history is None:
            return {"error": "no notification history configured for this API"}
        fold = WouldHaveMuted(matchers, max_examples=self.max_examples)
        async with self._readers:
            try:
                history = self.history(start, end)
                await asyncio.to_thread(_fold, history, fold)
            except Exception as exc:  # noqa: BLE001 - any broker or topology problem: say so, answer the rest
                log.warning("silence preview: reading the notification history failed: %s", exc)
                return {"error": f"the notification history could not be read: {exc}"}
        return {"window": history.window.to_json(), **fold.to_json()}


def _fold(notifications: Iterable[Notification], fold: WouldHaveMuted) -> None:
    for notification in notifications:
        fold.add(notification)


async def _bounded_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def install_silence_preview(api: AlertmanagerApi, settings: Any) -> SilencePreview:
    """The preview and guard of the bridge process, reading the notifications topic of its topology."""
    from pipeline.notification_history import NotificationHistory
    from pipeline.topology import load_topology

    s = settings.silences
    topology = load_topology(settings.topics.topology_file)

    def history(start: datetime, end: datetime) -> NotificationHistory:
        return NotificationHistory(settings, start, end, max_records=s.preview_max_records,
                                   max_seconds=s.preview_max_seconds, topology=topology)

    preview = SilencePreview(api.view, guard_rules(settings), history,
                             default_since=timedelta(seconds=s.preview_since_s),
                             max_since=timedelta(seconds=s.preview_max_since_s),
                             max_examples=s.preview_max_examples, max_alerts_shown=s.preview_max_alerts_shown,
                             concurrency=s.preview_concurrency)
    preview.install(api)
    return preview
