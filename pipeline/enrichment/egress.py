"""Where an enrichment HTTP lookup may connect, checked on the addresses it actually connects to.

A lookup URL is a template over the alert, and alerts come from senders: a label can point it at
Redis on loopback, a database on the private network or the cloud metadata service, with the
workflow's credentials in its headers. So, per workflow:

- the URL's host must be one the workflow names (``allowed_hosts``, or the host written literally in
  the action's URL), checked by the engine before any request;
- every address the host resolves to must be globally routable, or inside one of the workflow's
  ``allowed_networks``; cloud metadata addresses (169.254.169.254, fd00:ec2::254, 100.100.100.200)
  only when a network lists exactly that address. One refused address refuses the host.

The check runs in the HTTP client's network backend (httpcore's ``AsyncNetworkBackend``): the host is
resolved once per connection, the addresses checked, and the connection made to a checked address —
so DNS rebinding (a first answer that passes, a second that points inside) has no second answer to
use. TLS still verifies the certificate for the host name (httpcore passes it as the server name),
and the Host header is the URL's. Redirects are not followed and proxies from the environment are not
used (they would connect elsewhere than checked).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Instance metadata services: AWS, GCP, Azure, OpenStack, DigitalOcean (169.254.169.254), AWS over
# IPv6 (fd00:ec2::254), Alibaba Cloud (100.100.100.200).
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressRefused(httpcore.ConnectError):
    """The lookup's host resolves to an address this workflow may not reach."""


def refusal(address: str, allowed_networks: Iterable[IPNetwork] = ()) -> str | None:
    """Why ``address`` may not be reached (e.g. ``"loopback"``), or None when it may."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the scope is no part of it
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        ip = embedded
    allowed = tuple(allowed_networks)
    if ip in METADATA_ADDRESSES:
        # Only by name: allowing 169.254.0.0/16 for a link-local service must not open the metadata.
        exact = any(net.num_addresses == 1 and ip in net for net in allowed)
        return None if exact else "a cloud metadata address"
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "not globally routable"
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses, as the system resolves them (an IP literal is its own address)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.append(sockaddr[0])
    return seen


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend that resolves, checks and connects to the checked address."""

    def __init__(self, allowed_networks: Iterable[IPNetwork] = (), resolver: Resolver = system_resolver,
                 inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allowed_networks = tuple(allowed_networks)
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror or exc}") from None
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no address")
        for address in addresses:
            why = refusal(address, self.allowed_networks)
            if why is not None:
                raise EgressRefused(f"refused: {host} resolves to {address} ({why}); a workflow reaches such an "
                                    "address only when its allowed_networks lists it")
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("refused: enrichment lookups never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a :class:`CheckedBackend` (no proxies from the environment)."""

    def __init__(self, backend: CheckedBackend, *, max_connections: int = 20) -> None:
        super().__init__(trust_env=False)
        # httpx offers no way to hand its httpcore pool a network backend: the pool is made here, from
        # httpcore's public constructor, with httpx's default TLS context (system CAs, hostname check).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), max_connections=max_connections,
            max_keepalive_connections=max_connections, keepalive_expiry=5.0, network_backend=backend)
