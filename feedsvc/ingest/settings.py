"""Ingestion settings, read once from the app's configuration."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from feedsvc.ingest.fetch import FetchSettings, build_user_agent


@dataclass(frozen=True)
class IngestSettings:
    default_interval: int
    min_interval: int
    max_errors: int
    backoff_cap: int
    fetch: FetchSettings

    @property
    def lease_seconds(self) -> int:
        # Longer than any fetch can take, so a live worker never loses its source mid-fetch.
        return int(self.fetch.total_timeout + self.fetch.connect_timeout) + 60


def from_config(app: Flask) -> IngestSettings:
    c = app.config
    return IngestSettings(
        default_interval=c["SOURCE_DEFAULT_INTERVAL"],
        min_interval=c["SOURCE_MIN_INTERVAL"],
        max_errors=c["SOURCE_MAX_ERRORS"],
        backoff_cap=c["SOURCE_BACKOFF_CAP"],
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
