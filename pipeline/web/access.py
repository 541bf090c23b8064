"""Authentication, roles and request limits for every HTTP endpoint: one ASGI middleware.

Every request passes :class:`AccessMiddleware` before any endpoint runs:

1. its route's :class:`Requirement` is looked up in the :class:`AccessPolicy` (a route nobody declared
   needs an authenticated caller and then gets its 404/405; a declared route without a requirement for
   the method is refused) — so an endpoint cannot be forgotten open;
2. the caller is authenticated (:class:`Authenticator`: basic auth against bcrypt hashes, bearer tokens
   against SHA-256 digests, or a verified client certificate when that is the only credential) and its
   identity and roles are put on the request: ``request.state.identity`` (``None`` when anonymous) and
   ``request.state.roles`` (a frozenset of :class:`~pipeline.web.config.Role`). Read them with
   :func:`request_roles`; check one inside an endpoint with :func:`require_role`;
3. a missing role is 403, missing or wrong credentials 401 with ``WWW-Authenticate``, both with the
   product's JSON error body (:class:`~pipeline.api.errors.ApiError`);
4. the body of every request except the ingest paths (which have their source's own limit, read by
   the bridge) is read up to ``max_body_bytes`` (413 beyond) before the endpoint sees it;
5. the configured response headers (``http_server_config.headers``) are added to every answer.

Without users, tokens or a required client certificate every caller has every role (the bridge only
starts so when it listens on loopback, or with ``--insecure``; see pipeline.web.config.listen_refusal).

Ingest paths and their sources: a source with ``auth: bearer`` authenticates its senders with its own
tokens (they travel in the one Authorization header), so the middleware lets such requests through to
the bridge's check; a source with ``auth: none`` or ``hmac`` needs a caller with the ``ingest`` role, and
an hmac source its signature as well.

For a future endpoint (reload, DLQ replay, the web UI under ``/ui``)::

    policy.protect(Route("/-/reload", reload, methods=["POST"]), Requirement(Role.ADMIN))
    policy.protect(Mount("/ui", ui_app), Requirement(Role.READ))     # the UI's pages need read
    ...
    async def silence_form_post(request):                             # (the app registers
        require_role(request, Role.SILENCE)                           # pipeline.api.errors.handle_api_error)
        if Role.ADMIN in request_roles(request): ...                  # or ask which roles it has

Secrets: a presented password is kept only as a SHA-256 digest in the verification cache; nothing a
caller presented appears in an answer, a log line or a metric label.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import bcrypt
from prometheus_client import Counter
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.api.errors import ApiError
from pipeline.web.config import ALL_ROLES, NO_WEB_CONFIG, Role, WebConfig, WebConfigError, load_web_config

log = logging.getLogger(__name__)

REFUSED = Counter("pipeline_web_requests_refused_total",
                  "Requests refused by the access layer, by reason.", ["reason"])

# exporter-toolkit's hash of "fakepassword": an unknown user costs a bcrypt check like a known one,
# so the answer's timing does not tell which user names exist.
_FAKE_HASH = b"$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
CACHE_SIZE = 1024  # verified (user, hash, password digest) outcomes kept
# bcrypt is CPU-bound (~65 ms at cost 10 here): one check at a time, in a thread, as exporter-toolkit
# runs one at a time under a mutex; a flood of guesses queues at most this many, the rest get 503.
BCRYPT_THREADS = 1
MAX_PENDING_CHECKS = 64
RELOAD_CHECK_S = 1.0  # how often the file's mtime is looked at


@dataclass(frozen=True)
class Requirement:
    """What a route needs: a role, and for an ingest path its source's own authentication type."""

    role: Role
    source_auth: str | None = None  # "none" | "bearer" | "hmac" for ingest paths

    @property
    def source_authenticates(self) -> bool:
        """The source checks the caller's bearer token itself (pipeline.bridge.auth)."""
        return self.source_auth == "bearer"


@dataclass(frozen=True)
class Grant:
    """Who the caller is (``identity``: a user or token name, ``None`` when anonymous) and its roles."""

    identity: str | None
    roles: frozenset[Role]


ANONYMOUS = Grant(None, frozenset())
OPEN = Grant(None, ALL_ROLES)  # no authentication configured
CLIENT_CERTIFICATE = "client-certificate"


class AccessPolicy:
    """The requirement of every route, declared with the route (``protect``)."""

    def __init__(self) -> None:
        self._routes: list[tuple[BaseRoute, Mapping[str, Requirement] | Requirement]] = []
        # Routes without path parameters, by path: most requests (ingest above all) are found with one
        # dict lookup instead of matching every route's pattern.
        self._by_path: dict[str, list[tuple[Route, Mapping[str, Requirement] | Requirement]]] = {}
        self._patterns: list[tuple[BaseRoute, Mapping[str, Requirement] | Requirement]] = []

    def protect(self, route: BaseRoute, requirement: Requirement | Mapping[str, Requirement]) -> BaseRoute:
        """Declare what ``route`` needs: one requirement, or one per HTTP method. Returns the route."""
        self._routes.append((route, requirement))
        if isinstance(route, Route) and not route.param_convertors:
            self._by_path.setdefault(route.path, []).append((route, requirement))
        else:
            self._patterns.append((route, requirement))
        return route

    @property
    def routes(self) -> list[BaseRoute]:
        return [route for route, _ in self._routes]

    def requirement(self, scope: Scope) -> Requirement | None:
        """The requirement of the route the request goes to; None when no route fully matches
        (the router answers 404 or 405, to an authenticated caller only)."""
        method = scope.get("method", "GET")
        method = "GET" if method == "HEAD" else method
        exact = self._by_path.get(scope["path"])
        if exact is not None:
            for route, requirement in exact:
                if route.methods is None or method in route.methods:
                    return self._for_method(requirement, method)
            # The path exists but not for this method: 405 (to an authenticated caller), unless a
            # parameterised route takes it after all.
        for route, requirement in self._patterns:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return self._for_method(requirement, method)
        return None

    @staticmethod
    def _for_method(requirement: Mapping[str, Requirement] | Requirement, method: str) -> Requirement:
        if isinstance(requirement, Requirement):
            return requirement
        found = requirement.get(method)
        if found is None:
            # A declared route with a method nobody gave a role: refuse rather than open it.
            return Requirement(Role.ADMIN)
        return found


class _VerificationCache:
    """A bounded LRU of bcrypt outcomes; keys are digests, so no password is kept in memory."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, bool] = OrderedDict()

    @staticmethod
    def key(user: str, hashed: bytes, password: bytes) -> bytes:
        return hashlib.sha256(b"\0".join((user.encode(), hashed, password))).digest()

    def get(self, key: bytes) -> bool | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: bytes, outcome: bool) -> None:
        self._entries[key] = outcome
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class Authenticator:
    """Checks credentials against the current web configuration (re-read when its file changes)."""

    def __init__(self, config: WebConfig = NO_WEB_CONFIG, *, on_reload: Callable[[WebConfig], None] | None = None
                 ) -> None:
        self.config = config
        self._cache = _VerificationCache()
        self._pool = ThreadPoolExecutor(max_workers=BCRYPT_THREADS, thread_name_prefix="bcrypt")
        self._pending = 0
        self._on_reload = on_reload
        self._file_state = _file_state(config.source) if config is not NO_WEB_CONFIG else None
        self._next_check = 0.0
        self._broken_state: tuple[float, int] | None = None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- reload (exporter-toolkit re-reads the file for every request; here when it changed)
    def maybe_reload(self, now: float) -> None:
        if self._file_state is None or now < self._next_check:
            return
        self._next_check = now + RELOAD_CHECK_S
        state = _file_state(self.config.source)
        if state == self._file_state or state == self._broken_state:
            return
        try:
            config = load_web_config(self.config.source)
        except WebConfigError as exc:
            self._broken_state = state
            log.error("the changed web configuration is invalid, the previous one stays in force: %s", exc)
            return
        if (config.tls is None) != (self.config.tls is None) or (
                config.tls is not None and self.config.tls is not None
                and config.tls.settings.model_copy(update={"cert_file": "", "key_file": ""})
                != self.config.tls.settings.model_copy(update={"cert_file": "", "key_file": ""})):
            log.warning("web configuration reloaded; its TLS settings other than the certificate and key "
                        "files take effect at the next restart")
        self.config, self._file_state, self._broken_state = config, state, None
        log.info("web configuration reloaded from %s: %d users, %d tokens", config.source, len(config.users),
                 len(config.tokens))
        if self._on_reload is not None:
            self._on_reload(config)

    # -- the check
    async def authenticate(self, headers: Mapping[str, str], requirement: Requirement | None) -> Grant:
        """The caller's grant; raises :class:`ApiError` 401 (or 503 when too many checks queue)."""
        config = self.config
        if not config.authenticates:
            return OPEN
        authorization = headers.get("authorization", "").strip()
        scheme, _, credential = authorization.partition(" ")
        scheme, credential = scheme.lower(), credential.strip()
        if scheme == "basic" and config.users:
            return await self._basic(config, credential)
        if scheme == "bearer" and credential:
            digest = hashlib.sha256(credential.encode()).digest()
            found = None
            for name, configured in config.tokens.items():  # every one compared: no early exit
                if hmac.compare_digest(digest, configured):
                    found = name
            if found is not None:
                return Grant(found, config.roles_of(found))
            if requirement is not None and requirement.source_authenticates:
                return Grant(None, frozenset({Role.INGEST}))  # a source token: the bridge checks it
            raise self._unauthorized(config, "the bearer token is not accepted", "invalid_credentials")
        if config.certificate_only_authentication:
            # The TLS handshake required and verified the client's certificate: nothing else to ask.
            return Grant(CLIENT_CERTIFICATE, ALL_ROLES)
        if requirement is not None and requirement.source_authenticates:
            return Grant(None, frozenset({Role.INGEST}))  # the source answers 401 if the token is missing
        if authorization:
            raise self._unauthorized(config, "the Authorization header carries no accepted credentials "
                                             f"(expected: {self._schemes(config)})", "invalid_credentials")
        raise self._unauthorized(config, f"authentication required ({self._schemes(config)})",
                                 "missing_credentials")

    async def _basic(self, config: WebConfig, credential: str) -> Grant:
        try:
            decoded = base64.b64decode(credential, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise self._unauthorized(config, "the Basic credentials are not base64 of user:password",
                                     "invalid_credentials") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise self._unauthorized(config, "the Basic credentials are not base64 of user:password",
                                     "invalid_credentials")
        hashed = config.users.get(user)
        known = hashed is not None
        hashed = hashed if known else _FAKE_HASH
        key = _VerificationCache.key(user, hashed, password.encode())
        outcome = self._cache.get(key)
        if outcome is None:
            if self._pending >= MAX_PENDING_CHECKS:
                REFUSED.labels("too_many_checks").inc()
                raise ApiError.problem(503, "unavailable", "too many password checks in progress; retry shortly",
                                       {"Retry-After": "1"})
            self._pending += 1
            try:
                loop = asyncio.get_running_loop()
                outcome = await loop.run_in_executor(self._pool, _checkpw, password.encode(), hashed)
            finally:
                self._pending -= 1
            self._cache.put(key, outcome)
        if outcome and known:
            return Grant(user, config.roles_of(user))
        raise self._unauthorized(config, "invalid user name or password", "invalid_credentials")

    @staticmethod
    def _schemes(config: WebConfig) -> str:
        return " or ".join(name for name, present in (("Basic", config.users), ("Bearer", config.tokens)) if present)

    @classmethod
    def _unauthorized(cls, config: WebConfig, detail: str, reason: str) -> ApiError:
        REFUSED.labels(reason).inc()
        challenges = []
        if config.users:
            challenges.append('Basic realm="alert-pipeline"')
        if config.tokens:
            challenges.append('Bearer realm="alert-pipeline"')
        return ApiError.problem(401, "unauthorized", detail, {"WWW-Authenticate": ", ".join(challenges)})


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a hash bcrypt cannot read (the loader checks the format, so never expected)
        return False


def _file_state(path: str) -> tuple[float, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)


# --- what endpoints read ------------------------------------------------------------------------

def request_roles(request: Request) -> frozenset[Role]:
    """The roles the middleware granted this request (empty when it did not pass the middleware)."""
    return getattr(request.state, "roles", frozenset())


def request_identity(request: Request) -> str | None:
    """The authenticated user or token name, or None (anonymous, or no authentication configured)."""
    return getattr(request.state, "identity", None)


def require_role(request: Request, role: Role) -> None:
    """Raise the 403 unless the request has ``role`` (for checks finer than the route's requirement)."""
    if role in request_roles(request):
        return
    raise forbidden(role, request_identity(request))


def forbidden(role: Role, identity: str | None) -> ApiError:
    REFUSED.labels("forbidden").inc()
    who = f"{identity!r}" if identity else "this caller"
    return ApiError.problem(403, "forbidden", f"{who} lacks the {role} role this endpoint needs")


# --- the middleware ---------------------------------------------------------------------------------

class AccessMiddleware:
    """See the module docstring. ``app`` is the Starlette app whose routes ``policy`` declared."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy, authenticator: Authenticator, *,
                 public_paths: Iterable[str] = ("/healthz",), max_body_bytes: int = 1 << 20) -> None:
        self.app = app
        self.policy = policy
        self.authenticator = authenticator
        self.public_paths = frozenset(public_paths)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.authenticator.maybe_reload(time.monotonic())
        headers = self.authenticator.config.headers
        if headers:
            send = _adding_headers(send, headers)
        try:
            receive = await self._admit(scope, receive)
        except ApiError as exc:
            await exc.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _admit(self, scope: Scope, receive: Receive) -> Receive:
        requirement = self.policy.requirement(scope)
        state = scope.setdefault("state", {})
        if scope["path"] in self.public_paths:
            grant = ANONYMOUS if self.authenticator.config.authenticates else OPEN
        else:
            grant = await self.authenticator.authenticate(_header_map(scope), requirement)
            if requirement is not None and requirement.role not in grant.roles:
                raise forbidden(requirement.role, grant.identity)
        state["identity"], state["roles"] = grant.identity, grant.roles
        if requirement is not None and requirement.role is Role.INGEST:
            return receive  # the bridge reads it, bounded by the source's own limit
        return await _bounded_body(scope, receive, self.max_body_bytes)


def _header_map(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        if key == "authorization" and key in out:
            # Two Authorization headers: ambiguous, so neither is taken.
            out[key] = "invalid"
            continue
        out[key] = value.decode("latin-1")
    return out


def _adding_headers(send: Send, headers: Mapping[str, str]) -> Send:
    extra = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return send_with_headers


def too_large(limit: int) -> ApiError:
    REFUSED.labels("body_too_large").inc()
    return ApiError.problem(413, "payload_too_large", f"the request body exceeds the limit of {limit} bytes")


async def _bounded_body(scope: Scope, receive: Receive, limit: int) -> Receive:
    """Read the whole body (at most ``limit`` bytes) and return a ``receive`` that replays it."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length" and value.isdigit() and int(value) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _replay([message], receive)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}], receive)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replaying_receive() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replaying_receive


__all__ = [
    "ANONYMOUS", "OPEN", "AccessMiddleware", "AccessPolicy", "Authenticator", "Grant", "Requirement",
    "forbidden", "request_identity", "request_roles", "require_role", "too_large",
]
