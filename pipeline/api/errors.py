"""The one error type of every HTTP answer other than success: the bridge, the Alertmanager API, the
web access layer (authentication, roles, body limits) and whatever is mounted next to them.

Two body shapes exist, both JSON:

* the product's own ``{"error": <code>, "detail": <text>, ...}`` (:meth:`ApiError.problem`): ingest,
  authentication, authorization, limits, operations endpoints;
* Alertmanager's, on the Alertmanager API v2 endpoints, so ``amtool`` reads it: a JSON string, or
  go-openapi's ``{"code", "message"}`` object (``ApiError(status, body)`` with that body).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.responses import Response


class ApiError(Exception):
    """An answer other than 200 with its JSON ``body`` (``None``: no body) and extra ``headers``."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(body)
        self.status, self.body, self.headers = status, body, headers or {}

    @classmethod
    def problem(cls, status: int, error: str, detail: str, headers: dict[str, str] | None = None,
                **extra: Any) -> ApiError:
        """The product's error shape: a short machine-readable ``error`` and a ``detail`` for people."""
        return cls(status, {"error": error, "detail": detail, **extra}, headers)

    @property
    def detail(self) -> str:
        """The human-readable part of the body, whatever its shape (for logs and tests)."""
        body = self.body
        if isinstance(body, dict):
            return str(body.get("detail") or body.get("message") or "")
        return "" if body is None else str(body)

    def response(self) -> Response:
        if self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        return json_response(self.body, self.status, self.headers)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer encoded with orjson (what every endpoint here answers with)."""
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


async def handle_api_error(_request: object, exc: Exception) -> Response:
    """Starlette exception handler: an endpoint may raise :class:`ApiError` (``exception_handlers=
    {ApiError: handle_api_error}``), e.g. from :func:`pipeline.web.access.require_role`."""
    assert isinstance(exc, ApiError)
    return exc.response()


async def handle_http_exception(_request: object, exc: Exception) -> Response:
    """Starlette's own errors (no route: 404, wrong method: 405) in the same JSON error body."""
    assert isinstance(exc, HTTPException)
    names = {404: "not_found", 405: "method_not_allowed"}
    return ApiError.problem(exc.status_code, names.get(exc.status_code, "error"), str(exc.detail),
                            dict(exc.headers or {})).response()

