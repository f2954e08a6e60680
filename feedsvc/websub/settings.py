"""WebSub and purge settings, read once from the app's configuration; the hub links every feed shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from feedsvc.feeds import FORMATS
from feedsvc.scopes import scope_of
from feedsvc.site import Site

HUB_PATH = "/websub"


@dataclass(frozen=True)
class WebSubSettings:
    own_hub: str | None  # our hub's URL, None when it is switched off
    external_hubs: tuple[str, ...]
    lease_min: int
    lease_max: int
    lease_default: int
    quiet: float
    max_delay: float
    rate_limit: int
    max_failures: int
    retry_base: float
    retry_cap: float
    timeout: float
    concurrency: int
    purge_url: str
    purge_method: str
    purge_wait: float
    allow_private: bool
    allow_networks: tuple[str, ...]

    @property
    def hubs(self) -> tuple[str, ...]:
        """Every hub a feed advertises: ours first, then the external ones."""
        return ((self.own_hub,) if self.own_hub else ()) + self.external_hubs

    def backoff(self, failures: int) -> float:
        """Seconds before the next attempt after ``failures`` consecutive failures (1, 2, ...)."""
        return min(self.retry_cap, self.retry_base * 2 ** max(0, failures - 1))


def from_config(config: Mapping[str, Any], site: Site) -> WebSubSettings:
    return WebSubSettings(
        own_hub=site.url(HUB_PATH) if config["WEBSUB_HUB"] else None,
        external_hubs=tuple(config["WEBSUB_HUBS"]),
        lease_min=int(config["WEBSUB_LEASE_MIN"]),
        lease_max=int(config["WEBSUB_LEASE_MAX"]),
        lease_default=int(config["WEBSUB_LEASE_DEFAULT"]),
        quiet=float(config["WEBSUB_QUIET"]),
        max_delay=float(config["WEBSUB_MAX_DELAY"]),
        rate_limit=int(config["WEBSUB_RATE_LIMIT"]),
        max_failures=int(config["WEBSUB_MAX_FAILURES"]),
        retry_base=float(config["WEBSUB_RETRY_BASE"]),
        retry_cap=float(config["WEBSUB_RETRY_CAP"]),
        timeout=float(config["WEBSUB_TIMEOUT"]),
        concurrency=max(1, int(config["WEBSUB_CONCURRENCY"])),
        purge_url=str(config["PURGE_URL"] or ""),
        purge_method=str(config["PURGE_METHOD"] or "PURGE").upper(),
        purge_wait=max(0.0, float(config["PURGE_WAIT"])),
        allow_private=bool(config["ALLOW_PRIVATE_SOURCES"]),
        allow_networks=tuple(config["FETCH_ALLOW_NETWORKS"]),
    )


def feed_urls(site: Site, key: str) -> list[tuple[str, str]]:
    """(path, absolute URL) of every format of a scope's feed."""
    path = scope_of(key).path
    return [(f"{path}feed.{suffix}", site.url(f"{path}feed.{suffix}")) for suffix in FORMATS]


def surrogate_key(scope_key: str) -> str:
    """The cache key naming every feed of a scope ("*" is not a safe token for every cache)."""
    return "scope:all" if scope_key == "*" else f"scope:{scope_key}"
