"""The SSRF guard: which addresses are refused, and that the check happens at connect time."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import httpcore
import pytest

from feedsvc.ingest.stages.netguard import (
    AddressPolicy,
    BlockedAddressError,
    GuardedBackend,
    GuardedTransport,
    non_public_reason,
    vet_host,
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("172.16.4.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata endpoint
        ("fe80::1", "a link-local address"),
        ("224.0.0.251", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("100.64.12.1", "a shared (carrier-grade NAT) address"),
        ("240.0.0.1", "a private address"),  # reserved 240/4 is in Python's private list
        ("::ffff:10.0.0.5", "an IPv4-mapped form of 10.0.0.5, a private address"),
        ("::ffff:127.0.0.1", "an IPv4-mapped form of 127.0.0.1, a loopback address"),
        ("64:ff9b::a00:5", "an NAT64 form of 10.0.0.5, a private address"),
        ("64:ff9b::7f00:1", "an NAT64 form of 127.0.0.1, a loopback address"),
        ("64:ff9b:1::a00:5", "a local-use NAT64 address"),
        ("2002:a00:5::1", "an 6to4 form of 10.0.0.5, a private address"),
    ],
)
def test_non_public_addresses_are_named(address: str, reason: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "8.8.8.8", "2a00:1450:4001:80b::200e", "::ffff:93.184.215.14", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) is None
    AddressPolicy().check(address)  # no exception


def test_refusal_message_is_human_readable() -> None:
    with pytest.raises(BlockedAddressError, match=r"^refused: 10\.0\.0\.5 is a private address$"):
        AddressPolicy().check("10.0.0.5")


def test_allow_private_switches_the_guard_off() -> None:
    policy = AddressPolicy.build(allow_private=True)
    for address in ("127.0.0.1", "10.0.0.5", "::1", "169.254.169.254"):
        policy.check(address)


def test_allow_networks_lets_exactly_those_through() -> None:
    policy = AddressPolicy.build(allow_networks=["127.0.0.1/32"])
    policy.check("127.0.0.1")
    for address in ("127.0.0.2", "::1", "::ffff:127.0.0.1", "10.0.0.1"):
        with pytest.raises(BlockedAddressError):
            policy.check(address)


def _resolver(mapping: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> Sequence[str]:
        return mapping[host]

    return resolve


def test_any_private_address_among_the_resolved_ones_refuses_the_host() -> None:
    resolve = _resolver({"mixed.example": ["93.184.215.14", "10.0.0.5"]})
    with pytest.raises(BlockedAddressError, match=r"10\.0\.0\.5 is a private address"):
        vet_host("mixed.example", 443, AddressPolicy(), resolve)


def test_connect_refuses_before_opening_any_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[object] = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: opened.append(a))
    backend = GuardedBackend(AddressPolicy(), resolver=_resolver({"intranet.example": ["10.0.0.1"]}))
    for host in ("10.0.0.1", "::1", "intranet.example"):
        with pytest.raises(BlockedAddressError):
            backend.connect_tcp(host, 80, timeout=1.0)
    assert opened == []


def test_dns_rebinding_is_caught_on_the_next_connection() -> None:
    """Public when the partner was registered, private when fetched: checked per connection."""
    answers = iter([["127.0.0.1"], ["10.0.0.5"]])
    backend = GuardedBackend(
        AddressPolicy.build(allow_networks=["127.0.0.1/32"]), resolver=lambda host, port: next(answers)
    )
    assert vet_host("rebind.example", 80, backend.policy, backend.resolver) == ["127.0.0.1"]
    with pytest.raises(BlockedAddressError, match=r"10\.0\.0\.5"):
        backend.connect_tcp("rebind.example", 80, timeout=1.0)


def test_connects_to_the_vetted_address_not_a_second_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    targets: list[tuple[str, int]] = []

    def fake_connect(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        targets.append(address)
        raise ConnectionRefusedError("test")

    monkeypatch.setattr(socket, "create_connection", fake_connect)
    backend = GuardedBackend(
        AddressPolicy.build(allow_networks=["127.0.0.1/32"]),
        resolver=_resolver({"partner.example": ["127.0.0.1"]}),
    )
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("partner.example", 8080, timeout=1.0)
    assert targets == [("127.0.0.1", 8080)]


def test_unix_sockets_are_refused() -> None:
    with pytest.raises(httpcore.ConnectError):
        GuardedBackend(AddressPolicy()).connect_unix_socket("/var/run/docker.sock")


def test_transport_really_uses_the_guarded_backend() -> None:
    """If httpx ever stops keeping its pool in ``_pool``, fetching must fail, not go unguarded."""
    backend = GuardedBackend(AddressPolicy())
    transport = GuardedTransport(backend)
    assert transport._pool._network_backend is backend
