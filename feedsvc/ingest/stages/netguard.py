"""SSRF guard: partner URLs may only reach public addresses.

The check runs when a TCP connection is opened, not when a URL is registered: the host is
resolved once, every resolved address is vetted, and the socket is opened to a vetted address
literal. DNS rebinding (public at registration, private at fetch time) and redirects to private
hosts therefore hit the same check. TLS still uses the hostname for SNI and certificate
verification, because httpcore passes the origin host to ``start_tls`` independently of the
address the socket was opened to.

The guard plugs into httpx as an httpcore network backend (``GuardedBackend``) inside the
transport's connection pool (``guarded_transport``). The backend also enforces a single
deadline over the whole exchange: every socket read and write is given at most the time left.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> address literals, in the order to try them.
Resolver = Callable[[str, int], Sequence[str]]

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: embeds an IPv4 address
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local-use, maps to anything


class BlockedAddressError(Exception):
    """A connection was refused because the host resolves to a non-public address."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"refused: {address} is {reason}")


def _ipv4_reason(ip: ipaddress.IPv4Address) -> str | None:
    # Order matters only for the wording: the most specific category is named.
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:  # is_global is True for multicast, so it must be tested explicitly
        return "a multicast address"
    if ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def non_public_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be contacted, or None when it is a public unicast address.

    IPv6 forms that embed an IPv4 address (IPv4-mapped, NAT64 well-known prefix, 6to4) are
    judged by the embedded address, so ``::ffff:10.0.0.5`` is as private as ``10.0.0.5``.
    """
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_reason(ip)
    embedded: ipaddress.IPv4Address | None = None
    form = ""
    if ip.ipv4_mapped is not None:
        embedded, form = ip.ipv4_mapped, "IPv4-mapped"
    elif ip in _NAT64_WELL_KNOWN:
        embedded, form = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    elif ip.sixtofour is not None:
        embedded, form = ip.sixtofour, "6to4"
    if embedded is not None:
        inner = _ipv4_reason(embedded)
        return None if inner is None else f"an {form} form of {embedded}, {inner}"
    if ip in _NAT64_LOCAL:
        return "a local-use NAT64 address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:  # includes fc00::/7 unique-local, documentation and Teredo ranges
        return "a private address"
    if ip.is_site_local:
        return "a site-local address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which resolved addresses may be connected to.

    ``allow_private`` switches the guard off (local development). ``allow_networks`` lets
    exactly the listed networks through despite being non-public: tests allow only
    ``127.0.0.1/32`` so that everything else (``::1``, ``10.0.0.0/8`` …) is still refused.
    """

    allow_private: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(cls, *, allow_private: bool = False, allow_networks: Iterable[str] = ()) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks))

    def check(self, address: str) -> None:
        """Raise ``BlockedAddressError`` unless ``address`` (an IP literal) may be contacted."""
        if self.allow_private:
            return
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
        except ValueError:
            raise BlockedAddressError(address, "not an IP address") from None
        if any(ip.version == net.version and ip in net for net in self.allow_networks):
            return
        reason = non_public_reason(ip)
        if reason is not None:
            raise BlockedAddressError(str(ip), reason)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns for ``host`` (duplicates removed, order kept)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def vet_host(host: str, port: int, policy: AddressPolicy, resolver: Resolver = system_resolver) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing if ANY of them is non-public.

    Refusing on any (not only on the one we would pick) matters: a name that resolves to both
    a public and a private address is an attack or a misconfiguration either way.
    """
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]  # a literal needs no lookup
    except ValueError:
        addresses = list(resolver(host, port))
    if not addresses:
        raise httpcore.ConnectError(f"could not resolve {host}: no addresses")
    for address in addresses:
        policy.check(address)
    return addresses


class DeadlineStream(httpcore.NetworkStream):
    """Socket stream whose reads and writes never wait past an absolute monotonic deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float | None) -> None:
        self._inner = inner
        self._deadline = deadline

    def _budget(self, timeout: float | None, exc: type[Exception]) -> float | None:
        if self._deadline is None:
            return timeout
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise exc("deadline exceeded")
        return remaining if timeout is None else min(timeout, remaining)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._budget(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._budget(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        budget = self._budget(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, budget), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore backend that vets addresses at connect time and connects to a vetted literal."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        resolver: Resolver = system_resolver,
        deadline: float | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise httpcore.ConnectTimeout("deadline exceeded")
            timeout = remaining if timeout is None else min(timeout, remaining)
        addresses = vet_host(host, port, self.policy, self.resolver)
        last_error: Exception | None = None
        for address in addresses:
            try:
                # Connecting to the literal means no second resolution can swap the address.
                stream = super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            return DeadlineStream(stream, self.deadline)
        assert last_error is not None  # vet_host never returns an empty list
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed for partner fetches")


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """One verified TLS context for all fetches (loading the CA bundle is the slow part)."""
    return httpx.create_ssl_context()


class GuardedTransport(httpx.HTTPTransport):
    """httpx transport whose connection pool opens sockets through a ``GuardedBackend``."""

    def __init__(self, backend: GuardedBackend, *, ssl_context: ssl.SSLContext | None = None) -> None:
        context = ssl_context or default_ssl_context()
        # trust_env=False: a proxy from the environment would make the proxy, not the partner,
        # the address being vetted.
        super().__init__(verify=context, trust_env=False)
        # httpx has no public hook for the network backend; replace its pool, and fail loudly
        # (rather than silently fetching unguarded) if httpx ever stops keeping it in ``_pool``.
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("httpx internals changed: cannot install the address guard")
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=4,
            max_keepalive_connections=2,
            keepalive_expiry=5.0,
            network_backend=backend,
        )
        self.backend = backend
