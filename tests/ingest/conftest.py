"""Shared fixtures for the ingestion stage tests: saved partner feeds and a local HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pytest_httpserver import HTTPServer

from feedsvc.ingest.stages.fetch import FetchSettings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "partners"
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
TASHKENT = ZoneInfo("Asia/Tashkent")


@pytest.fixture(scope="session")
def load() -> Callable[[str], bytes]:
    """Bytes of a saved partner feed under tests/fixtures/partners/."""

    def read(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    return read


@pytest.fixture(scope="session")
def now() -> datetime:
    """The fixed "current time" for date rules: the fixtures were written on 5–6 March 2026."""
    return NOW


@pytest.fixture(scope="session")
def tashkent() -> ZoneInfo:
    return TASHKENT


@pytest.fixture(scope="session")
def _partner_server() -> Iterator[HTTPServer]:
    # Threaded: a handler that hangs on purpose must not block the requests of other tests.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def partner_server(_partner_server: HTTPServer) -> Iterator[HTTPServer]:
    _partner_server.clear()
    yield _partner_server
    _partner_server.clear()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown so handlers that hang on purpose finish and free their thread."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def loopback_only() -> FetchSettings:
    """The SSRF guard ON, with exactly the test server's address let through."""
    return FetchSettings(allow_networks=("127.0.0.1/32",), total_timeout=10.0, connect_timeout=2.0)


@pytest.fixture
def permissive() -> FetchSettings:
    """What local development uses: FEEDSVC_ALLOW_PRIVATE_SOURCES=1."""
    return FetchSettings(allow_private=True, total_timeout=10.0, connect_timeout=2.0)
