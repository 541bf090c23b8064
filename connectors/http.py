"""The sink's HTTP seam: what connectors send their requests through (``DeliveryContext.http``).

Connectors speak httpx's vocabulary: they send with ``request(method, url, headers=, json=,
content=)``, classify an ``httpx.Response`` with a pure ``classify`` and catch
``httpx.TimeoutException`` / ``httpx.TransportError`` as retryable. ``HttpSender`` is that subset of
``httpx.AsyncClient``, so an ``AsyncClient`` still is one (tests, or a connector that some day needs
more of httpx). The sink itself sends through ``AiohttpSender``: in the sink's shape (one client per
lane worker, small requests to one host) httpx + httpcore cost ~520 µs of CPU per request and aiohttp
~80–170 µs, more than the rest of a delivery together (``python -m bench.sink.http_clients``,
bench/sink/RESULTS.md).

``AiohttpSender`` keeps the contract connectors rely on, so none of them changes:

- the answer comes back as an ``httpx.Response`` (status, headers, body), whatever the status;
  redirects are never followed (a 3xx is classified like any other answer);
- only the first ``MAX_BODY_BYTES`` of a body are read: classifiers read a short error text or a
  small JSON object, and a target answering megabytes must not cost the sink memory and CPU (a body
  cut short closes its connection instead of returning it to the pool);
- failures are raised as httpx's exceptions (``ConnectTimeout``/``ReadTimeout`` are
  ``TimeoutException``; ``ConnectError``, ``ReadError``, ``RemoteProtocolError``... are
  ``TransportError``) whose message names the failure and never the URL: URLs carry secrets (Slack,
  Teams, Telegram tokens) and aiohttp's own messages quote host, port or URL;
- a ``json=`` body is encoded with orjson (UTF-8, compact, as httpx does) and sent as
  ``application/json``; ``content=`` bytes are sent as they are, byte for byte (signed webhooks).

The response's ``request`` is not set (building an ``httpx.Request`` would parse the URL again, ~20 µs
per delivery, and no classifier reads it).
"""

from __future__ import annotations

import os
import socket
import ssl
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import aiohttp
import httpx
import orjson

MAX_BODY_BYTES = 64 * 1024
# As httpx's keepalive_expiry: shorter than most servers' idle timeout (uvicorn 5 s, nginx 75 s), so
# a connection is rarely reused just as the server closes it.
KEEPALIVE_S = 5.0


class HttpSender(Protocol):
    """What connectors send HTTP through: the subset of ``httpx.AsyncClient.request`` they use."""

    async def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                      json: Any = None, content: bytes | None = None) -> httpx.Response: ...


class AiohttpSender:
    """One ``aiohttp.ClientSession`` with its own small connection pool: the sink builds one per lane
    worker, which runs one delivery at a time (see pipeline.stages.sink). Build it on the event loop
    that uses it and ``await aclose()`` it there.

    Timeouts as the httpx client had them: ``connect_timeout_s`` for TCP connect and TLS handshake,
    ``timeout_s`` for waiting on a free connection of the pool and between reads of the answer.
    aiohttp has no write timeout; the sink's attempt timeout bounds the whole call anyway.
    ``tls``: a context shared by every sender (building one loads the CA bundle, ~30 ms)."""

    def __init__(self, *, timeout_s: float, connect_timeout_s: float, max_connections: int,
                 tls: ssl.SSLContext | bool = True, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.max_body_bytes = max_body_bytes
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, ssl=tls, keepalive_timeout=KEEPALIVE_S),
            timeout=aiohttp.ClientTimeout(total=None, connect=timeout_s + connect_timeout_s,
                                          sock_connect=connect_timeout_s, sock_read=timeout_s),
            # aiohttp would label bytes application/octet-stream; httpx sends content= unlabelled
            skip_auto_headers=("Content-Type",),
            # HTTP(S)_PROXY from the environment, as httpx honoured it; looked up per request when on,
            # so only when the environment names a proxy at all
            trust_env=bool(urllib.request.getproxies()),
        )

    async def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                      json: Any = None, content: bytes | None = None) -> httpx.Response:
        if content is None and json is not None:
            content = orjson.dumps(json, option=orjson.OPT_NON_STR_KEYS)
            if headers is None or not any(name.lower() == "content-type" for name in headers):
                headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            async with self._session.request(method, url, headers=headers, data=content,
                                             allow_redirects=False) as answer:
                body = await _read_at_most(answer.content, self.max_body_bytes)
                return httpx.Response(answer.status, headers=_decoded_headers(answer), content=body)
        except aiohttp.ClientError as exc:
            raise _as_httpx_error(exc) from exc
        except TimeoutError as exc:  # asyncio's, from one of aiohttp's timers (theirs are ClientErrors)
            raise httpx.ReadTimeout("timed out") from exc

    async def aclose(self) -> None:
        await self._session.close()


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _decoded_headers(answer: aiohttp.ClientResponse) -> Sequence[tuple[bytes, bytes]]:
    # aiohttp already decompressed the body: httpx.Response would try to decompress it again.
    if "Content-Encoding" not in answer.headers:
        return answer.raw_headers
    return [(name, value) for name, value in answer.raw_headers if name.lower() != b"content-encoding"]


def _as_httpx_error(exc: aiohttp.ClientError) -> httpx.TransportError:
    """The httpx exception for an aiohttp failure, with a message that never quotes the URL."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout("connect timed out")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout("timed out")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        return httpx.ConnectError(getattr(error, "verify_message", None) or type(error).__name__)
    if isinstance(exc, aiohttp.ClientConnectorError):  # DNS, refused, unreachable, TLS handshake
        return httpx.ConnectError(_os_reason(exc.os_error))
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError("server disconnected without an answer")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError("answer body cut short or malformed")
    if isinstance(exc, aiohttp.ClientOSError):  # reset or broken pipe in the middle of the exchange
        return httpx.ReadError(_os_reason(exc))
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol("invalid or non-HTTP URL")
    if isinstance(exc, aiohttp.ClientResponseError):  # an answer aiohttp could not parse
        return httpx.RemoteProtocolError(f"malformed answer ({type(exc).__name__})")
    return httpx.TransportError(type(exc).__name__)


def _os_reason(error: OSError) -> str:
    """An OS error in words: asyncio's own texts name the address ("Connect call failed ('10.0.0.1',
    443)"), the errno's does not ("Connection refused"); a resolver error has only its text."""
    if isinstance(error, socket.gaierror) or not error.errno or error.errno < 0:
        return error.strerror or type(error).__name__
    return os.strerror(error.errno)

