"""Ingestion settings, read once from the app's configuration."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from feedsvc.ingest.stages.fetch import FetchSettings, build_user_agent


@dataclass(frozen=True)
class IngestSettings:
    default_interval: int
    min_interval: int
    max_errors: int
    backoff_cap: int
    fetch: FetchSettings
    max_interval: int = 6 * 3600
    per_host: int = 1  # live leases on one host at once, across every worker
    max_concurrent: int = 0  # live leases at once, across every worker; 0: no cap
    base_url: str = "http://127.0.0.1:5000"  # where partners' hubs reach our WebSub callback
    push_lease_seconds: int = 10 * 86400
    full_text_min_chars: int = 500  # an item with less text than this is an excerpt

    @property
    def lease_seconds(self) -> int:
        # Longer than any fetch can take, so a live worker never loses its source mid-fetch; a
        # full-text source may fetch its new items' pages too, each under the same deadline.
        return int(self.fetch.total_timeout + self.fetch.connect_timeout) * 2 + 60


def from_config(app: Flask) -> IngestSettings:
    c = app.config
    return IngestSettings(
        default_interval=c["SOURCE_DEFAULT_INTERVAL"],
        min_interval=c["SOURCE_MIN_INTERVAL"],
        max_errors=c["SOURCE_MAX_ERRORS"],
        backoff_cap=c["SOURCE_BACKOFF_CAP"],
        max_interval=c["SOURCE_MAX_INTERVAL"],
        per_host=c["FETCH_PER_HOST"],
        max_concurrent=c["FETCH_MAX_CONCURRENT"],
        base_url=c["BASE_URL"],
        push_lease_seconds=c["WEBSUB_LEASE_SECONDS"],
        fetch=FetchSettings(
            user_agent=build_user_agent(c["BASE_URL"]),
            connect_timeout=c["FETCH_CONNECT_TIMEOUT"],
            total_timeout=c["FETCH_TIMEOUT"],
            max_bytes=c["FETCH_MAX_BYTES"],
            allow_private=c["ALLOW_PRIVATE_SOURCES"],
            allow_networks=tuple(c["FETCH_ALLOW_NETWORKS"]),
        ),
    )


def ingest_settings() -> IngestSettings:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if "feedsvc.ingest" not in app.extensions:
        app.extensions["feedsvc.ingest"] = from_config(app)
    return app.extensions["feedsvc.ingest"]
