"""The HTTP clients of the hub: the SSRF-guarded one for subscribers' callbacks, a plain one for the
hubs and caches the operator configured.

Every import of the guarded client's parts is here, so a move of the ingestion code is a one-line fix.
"""

from __future__ import annotations

import time

import httpx

from feedsvc.ingest.stages.netguard import AddressPolicy, GuardedBackend, GuardedTransport

USER_AGENT = "feedsvc/0.1 (WebSub hub)"


def guarded_client(policy: AddressPolicy, timeout: float) -> httpx.Client:
    """A client that refuses, at connection time, any address ``policy`` does not allow.

    One per exchange: the guard's deadline spans the whole exchange, redirects are not followed
    (a callback is the URL the subscriber gave, nothing else).
    """
    backend = GuardedBackend(policy, deadline=time.monotonic() + timeout)
    return httpx.Client(
        transport=GuardedTransport(backend),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,  # an environment proxy would bypass the guard
        headers={"User-Agent": USER_AGENT},
    )


def address_policy(allow_private: bool, allow_networks: tuple[str, ...]) -> AddressPolicy:
    return AddressPolicy.build(allow_private=allow_private, allow_networks=allow_networks)


def trusted_client(timeout: float, limits: httpx.Limits | None = None) -> httpx.Client:
    """For URLs from the configuration (external hubs, the purge endpoint): no address guard."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
        limits=limits or httpx.Limits(),
    )
