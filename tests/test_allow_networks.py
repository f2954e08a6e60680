"""FEEDSVC_FETCH_ALLOW_NETWORKS, the name the README documents, is the one the service reads."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer

from feedsvc import db
from feedsvc.config import ConfigError
from feedsvc.ingest.service.settings import ingest_settings
from feedsvc.ingest.service.sources import create_source
from feedsvc.models import Source
from feedsvc.site import site

RSS = (
    b"<?xml version='1.0'?><rss version='2.0'><channel><title>P</title><link>https://p.example/</link>"
    b"<description>d</description><item><guid>a1</guid><title>One</title>"
    b"<link>https://p.example/1</link></item></channel></rss>"
)


def _fetch_once(app: Flask, url: str) -> Source:
    with app.app_context():
        with db.new_session() as s:
            source = create_source(s, site(), ingest_settings(), {"url": url, "language": "ru"})
            s.commit()
            source_id = source.id
        # The CLI fetches directly: the same path the worker takes, without the web tier.
        out = app.test_cli_runner().invoke(args=["ingest", str(source_id)])
        assert out.exit_code == 0, out.output
        with db.new_session() as s:
            return s.get(Source, source_id)  # type: ignore[return-value]


@pytest.mark.parametrize("networks", ["127.0.0.0/8", None])
def test_env_variable_lets_the_network_through(
    app_factory: Callable[..., Flask],
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    networks: str | None,
) -> None:
    monkeypatch.delenv("FEEDSVC_ALLOW_PRIVATE_SOURCES", raising=False)
    if networks:
        monkeypatch.setenv("FEEDSVC_FETCH_ALLOW_NETWORKS", networks)
    else:
        monkeypatch.delenv("FEEDSVC_FETCH_ALLOW_NETWORKS", raising=False)
    httpserver.expect_request("/rss").respond_with_data(RSS, content_type="application/rss+xml")
    app = app_factory(FETCH_TIMEOUT=2.0)
    assert app.config["ALLOW_PRIVATE_SOURCES"] is False
    source = _fetch_once(app, httpserver.url_for("/rss"))
    if networks:
        assert app.config["FETCH_ALLOW_NETWORKS"] == ("127.0.0.0/8",)
        assert source.last_outcome == "new", source.last_error
    else:
        assert source.last_outcome == "error" and "refused" in (source.last_error or "")
        assert not httpserver.log


def test_the_old_undocumented_name_refuses_to_start_naming_the_right_one(
    app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDSVC_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.delenv("FEEDSVC_FETCH_ALLOW_NETWORKS", raising=False)
    with pytest.raises(ConfigError, match=r"FEEDSVC_ALLOW_NETWORKS.*mean FEEDSVC_FETCH_ALLOW_NETWORKS"):
        app_factory()
