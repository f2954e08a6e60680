"""fetch() against a local server: outcomes, validators, redirects, limits, the SSRF guard."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from feedsvc.ingest.stages.fetch import (
    MIB,
    FetchSettings,
    build_user_agent,
    fetch,
    human_size,
    parse_max_age,
    parse_retry_after,
)

RSS = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Wire</title>'
    b"<item><title>Tashkent metro</title><guid>1</guid></item></channel></rss>"
)


def gzip_bomb(size: int) -> bytes:
    """gzip of ``size`` zero bytes (~1/1000 of it), built in well under a second.

    One deflate segment of 1 MiB zeros, ended with a full flush (byte-aligned, no references
    into earlier data), is repeated; then an empty final block and the gzip trailer.
    """
    chunk = 1 << 20
    assert size % chunk == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    final_block = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    zeros = bytes(chunk)
    for _ in range(size // chunk):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + segment * (size // chunk) + final_block + struct.pack("<II", crc, size & 0xFFFFFFFF)


def test_gzip_bomb_helper_is_a_valid_gzip() -> None:
    assert gzip.decompress(gzip_bomb(4 * MIB)) == bytes(4 * MIB)


# ----------------------------------------------------------------------------- outcomes


def test_200_returns_body_validators_and_hash(partner_server: HTTPServer, permissive: FetchSettings) -> None:
    partner_server.expect_request("/rss.xml").respond_with_data(
        RSS,
        content_type="application/rss+xml; charset=utf-8",
        headers={
            "ETag": 'W/"5e1-18c3"',
            "Last-Modified": "Thu, 05 Mar 2026 09:00:00 GMT",
            "Cache-Control": "public, max-age=600",
        },
    )
    result = fetch(partner_server.url_for("/rss.xml"), settings=permissive)
    assert result.outcome == "ok"
    assert result.status == 200
    assert result.body == RSS
    assert result.etag == 'W/"5e1-18c3"'
    assert result.last_modified == "Thu, 05 Mar 2026 09:00:00 GMT"
    assert result.max_age == 600
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.sha256 == hashlib.sha256(RSS).hexdigest()
    assert result.moved_permanently_to is None
    assert result.error is None


def test_request_headers_user_agent_and_accept(partner_server: HTTPServer) -> None:
    seen: dict[str, str] = {}

    def handler(request: Request) -> Response:
        seen.update(request.headers)
        return Response(RSS, content_type="application/rss+xml")

    partner_server.expect_request("/ua").respond_with_handler(handler)
    settings = FetchSettings.from_config(
        "https://news.example.uz/", environ={"FEEDSVC_ALLOW_PRIVATE_SOURCES": "1"}
    )
    assert settings.allow_private is True
    assert fetch(partner_server.url_for("/ua"), settings=settings).outcome == "ok"
    assert (
        seen["User-Agent"]
        == build_user_agent("https://news.example.uz")
        == ("feedsvc/0.1 (+https://news.example.uz; partner feed reader)")
    )
    assert "application/rss+xml" in seen["Accept"] and "application/feed+json" in seen["Accept"]
    assert seen["Accept-Encoding"] == "gzip, deflate"
    assert "If-None-Match" not in seen


def test_from_config_keeps_the_guard_on_by_default() -> None:
    assert FetchSettings.from_config("https://news.example.uz", environ={}).allow_private is False
    assert (
        FetchSettings.from_config("https://x", environ={"FEEDSVC_ALLOW_PRIVATE_SOURCES": "0"}).allow_private
        is False
    )


def test_304_sends_validators_verbatim_and_returns_no_body(
    partner_server: HTTPServer, permissive: FetchSettings
) -> None:
    etag = 'W/"5e1-18c3"'
    last_modified = "Thu, 05 Mar 2026 09:00:00 GMT"
    # The expectation only matches if both validators come back byte for byte.
    partner_server.expect_request(
        "/rss.xml", headers={"If-None-Match": etag, "If-Modified-Since": last_modified}
    ).respond_with_data("", status=304)
    result = fetch(
        partner_server.url_for("/rss.xml"), etag=etag, last_modified=last_modified, settings=permissive
    )
    assert result.outcome == "not_modified"
    assert result.status == 304
    assert result.body == b""
    assert result.sha256 is None
    # The 304 did not repeat them, so the ones we hold stay current.
    assert (result.etag, result.last_modified) == (etag, last_modified)


def test_410_is_gone(partner_server: HTTPServer, permissive: FetchSettings) -> None:
    partner_server.expect_request("/old.xml").respond_with_data("Gone", status=410)
    result = fetch(partner_server.url_for("/old.xml"), settings=permissive)
    assert (result.outcome, result.status) == ("gone", 410)
    assert result.body == b""


def test_429_with_retry_after_seconds(partner_server: HTTPServer, permissive: FetchSettings) -> None:
    partner_server.expect_request("/rss.xml").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "120"}
    )
    result = fetch(partner_server.url_for("/rss.xml"), settings=permissive)
    assert (result.outcome, result.status, result.retry_after) == ("retry_later", 429, 120)
    assert result.error == "HTTP 429"


def test_503_with_retry_after_http_date(partner_server: HTTPServer, permissive: FetchSettings) -> None:
    when = datetime.now(UTC) + timedelta(hours=2)
    partner_server.expect_request("/rss.xml").respond_with_data(
        "maintenance", status=503, headers={"Retry-After": format_datetime(when, usegmt=True)}
    )
    result = fetch(partner_server.url_for("/rss.xml"), settings=permissive)
    assert (result.outcome, result.status) == ("retry_later", 503)
    assert result.retry_after is not None and 7190 <= result.retry_after <= 7200


def test_500_is_an_error(partner_server: HTTPServer, permissive: FetchSettings) -> None:
    partner_server.expect_request("/rss.xml").respond_with_data("boom", status=500)
    result = fetch(partner_server.url_for("/rss.xml"), settings=permissive)
    assert (result.outcome, result.status, result.error) == ("error", 500, "HTTP 500")
    assert result.body == b""


def test_retry_after_and_cache_control_parsing() -> None:
    now = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3600") == 3600
    assert parse_retry_after("Thu, 05 Mar 2026 12:30:00 GMT", now) == 1800
    assert parse_retry_after("Thu, 05 Mar 2026 11:00:00 GMT", now) == 0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_max_age('private, max-age="300"') == 300
    assert parse_max_age("no-cache") is None
    assert (
        human_size(10 * MIB) == "10 MiB"
        and human_size(512 * 1024) == "512 KiB"
        and human_size(1000) == "1000 bytes"
    )


# ----------------------------------------------------------------------------- redirects


def test_301_308_chain_updates_the_url(partner_server: HTTPServer, permissive: FetchSettings) -> None:
    partner_server.expect_request("/rss").respond_with_data("", status=301, headers={"Location": "/feed/"})
    partner_server.expect_request("/feed/").respond_with_data("", status=308, headers={"Location": "rss.xml"})
    partner_server.expect_request("/feed/rss.xml").respond_with_data(RSS, content_type="application/rss+xml")
    result = fetch(partner_server.url_for("/rss"), settings=permissive)
    assert result.outcome == "ok" and result.body == RSS
    final = partner_server.url_for("/feed/rss.xml")
    assert result.final_url == final
    assert result.moved_permanently_to == final
    assert result.redirects == (partner_server.url_for("/feed/"), final)


def test_a_302_anywhere_in_the_chain_keeps_the_url(
    partner_server: HTTPServer, permissive: FetchSettings
) -> None:
    partner_server.expect_request("/rss").respond_with_data("", status=301, headers={"Location": "/tmp"})
    partner_server.expect_request("/tmp").respond_with_data("", status=302, headers={"Location": "/rss.xml"})
    partner_server.expect_request("/rss.xml").respond_with_data(RSS)
    result = fetch(partner_server.url_for("/rss"), settings=permissive)
    assert result.outcome == "ok"
    assert result.final_url == partner_server.url_for("/rss.xml")
    assert result.moved_permanently_to is None


def _redirect_chain(server: HTTPServer, hops: int) -> None:
    for i in range(hops):
        server.expect_request(f"/r{i}").respond_with_data("", status=301, headers={"Location": f"/r{i + 1}"})
    server.expect_request(f"/r{hops}").respond_with_data(RSS)


def test_five_redirects_are_followed(partner_server: HTTPServer, permissive: FetchSettings) -> None:
    _redirect_chain(partner_server, 5)
    result = fetch(partner_server.url_for("/r0"), settings=permissive)
    assert result.outcome == "ok" and len(result.redirects) == 5


def test_more_than_five_redirects_is_an_error(partner_server: HTTPServer, permissive: FetchSettings) -> None:
    _redirect_chain(partner_server, 6)
    result = fetch(partner_server.url_for("/r0"), settings=permissive)
    assert result.outcome == "error"
    assert result.error == "too many redirects (more than 5)"
    assert result.moved_permanently_to is None


# ----------------------------------------------------------------------------- SSRF guard


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://partner.example/rss.xml", "gopher://127.0.0.1:70/", "javascript:alert(1)"],
)
def test_non_http_schemes_are_refused(url: str) -> None:
    result = fetch(url, settings=FetchSettings(allow_private=True))
    assert result.outcome == "error"
    assert result.error is not None and result.error.startswith("refused: URL uses unsupported scheme")


def test_redirect_to_a_non_http_scheme_is_refused(
    partner_server: HTTPServer, permissive: FetchSettings
) -> None:
    partner_server.expect_request("/rss").respond_with_data(
        "", status=302, headers={"Location": "file:///etc/passwd"}
    )
    result = fetch(partner_server.url_for("/rss"), settings=permissive)
    assert result.outcome == "error"
    assert result.error == "refused: redirect target uses unsupported scheme 'file' (only http and https)"


def test_loopback_is_refused_with_the_guard_on(partner_server: HTTPServer) -> None:
    partner_server.expect_request("/rss.xml").respond_with_data(RSS)
    result = fetch(partner_server.url_for("/rss.xml"), settings=FetchSettings())
    assert result.outcome == "error"
    assert result.error == "refused: 127.0.0.1 is a loopback address"
    assert partner_server.log == []  # refused before a single byte was sent


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every address a socket is actually opened to during the test."""
    opened: list[str] = []
    real = socket.create_connection

    def recording(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        opened.append(address[0])
        return real(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", recording)
    yield opened


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("http://10.0.0.1/rss.xml", "refused: 10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "refused: 169.254.169.254 is a link-local address"),
        ("http://[::1]:8080/rss.xml", "refused: ::1 is a loopback address"),
        (
            "http://[::ffff:10.0.0.1]/",
            "refused: ::ffff:a00:1 is an IPv4-mapped form of 10.0.0.1, a private address",
        ),
    ],
)
def test_redirect_to_a_private_address_is_refused_at_connect_time(
    partner_server: HTTPServer,
    loopback_only: FetchSettings,
    connections: list[str],
    target: str,
    message: str,
) -> None:
    # The first hop is allowed (exactly 127.0.0.1/32), the redirect target is not.
    partner_server.expect_request("/rss").respond_with_data("", status=302, headers={"Location": target})
    result = fetch(partner_server.url_for("/rss"), settings=loopback_only)
    assert result.outcome == "error"
    assert result.error == message
    assert len(result.redirects) == 1 and result.final_url == result.redirects[0]
    assert connections == ["127.0.0.1"]  # no socket was ever opened to the private target


def test_host_names_are_resolved_once_and_checked(partner_server: HTTPServer, connections: list[str]) -> None:
    """A partner host name resolving to the (allowed) test server works, Host header intact."""
    seen: dict[str, str] = {}

    def handler(request: Request) -> Response:
        seen["host"] = request.headers["Host"]
        return Response(RSS)

    partner_server.expect_request("/rss.xml").respond_with_handler(handler)
    resolver = {"partner.example": ["127.0.0.1"], "evil.example": ["127.0.0.1", "10.0.0.7"]}
    settings = FetchSettings(allow_networks=("127.0.0.1/32",), resolver=lambda host, port: resolver[host])
    port = partner_server.port
    result = fetch(f"http://partner.example:{port}/rss.xml", settings=settings)
    assert result.outcome == "ok" and seen["host"] == f"partner.example:{port}"
    refused = fetch(f"http://evil.example:{port}/rss.xml", settings=settings)
    assert refused.error == "refused: 10.0.0.7 is a private address"
    assert connections == ["127.0.0.1"]


# ----------------------------------------------------------------------------- limits


def test_gzip_body_is_decoded(partner_server: HTTPServer, permissive: FetchSettings) -> None:
    partner_server.expect_request("/gz").respond_with_data(
        gzip.compress(RSS), headers={"Content-Encoding": "gzip"}
    )
    partner_server.expect_request("/zlib").respond_with_data(
        zlib.compress(RSS), headers={"Content-Encoding": "deflate"}
    )
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    partner_server.expect_request("/raw").respond_with_data(
        raw.compress(RSS) + raw.flush(), headers={"Content-Encoding": "deflate"}
    )
    for path in ("/gz", "/zlib", "/raw"):
        result = fetch(partner_server.url_for(path), settings=permissive)
        assert (result.outcome, result.body) == ("ok", RSS), path


def test_gzip_members_and_trailing_padding_in_tiny_chunks(
    partner_server: HTTPServer, permissive: FetchSettings
) -> None:
    """Concatenated gzip members are one body, however the bytes are split on the wire."""
    body = RSS * 200
    wire = gzip.compress(body[:5000]) + gzip.compress(body[5000:]) + b"\0\0\0"

    def trickle() -> Iterator[bytes]:
        for start in range(0, len(wire), 7):
            yield wire[start : start + 7]

    partner_server.expect_request("/members").respond_with_handler(
        lambda request: Response(trickle(), headers={"Content-Encoding": "gzip"})
    )
    result = fetch(partner_server.url_for("/members"), settings=permissive)
    assert (result.outcome, result.body) == ("ok", body)


def test_unknown_content_encoding_is_an_error(partner_server: HTTPServer, permissive: FetchSettings) -> None:
    partner_server.expect_request("/br").respond_with_data(
        b"\x0b\x02\x80", headers={"Content-Encoding": "br"}
    )
    result = fetch(partner_server.url_for("/br"), settings=permissive)
    assert result.outcome == "error" and result.error == "unsupported content encoding 'br'"


def test_declared_length_over_the_limit_is_refused_unread(
    partner_server: HTTPServer, permissive: FetchSettings
) -> None:
    partner_server.expect_request("/big").respond_with_data(b"x" * (2 * MIB))
    settings = FetchSettings(allow_private=True, max_bytes=1 * MIB)
    result = fetch(partner_server.url_for("/big"), settings=settings)
    assert (result.outcome, result.error) == ("error", "response larger than 1 MiB")


def test_streamed_body_is_cut_at_the_limit(partner_server: HTTPServer, release: threading.Event) -> None:
    """No Content-Length, endless body: we stop reading at the limit; the server stops soon after."""
    produced = [0]

    closed = threading.Event()

    def endless() -> Iterator[bytes]:
        chunk = b"<item>" + b"x" * (64 * 1024 - 6)
        try:
            for _ in range(4096):  # 256 MiB at most, should the client misbehave
                if release.is_set():
                    return
                produced[0] += len(chunk)
                yield chunk
        finally:
            closed.set()  # the server stopped sending: the client hung up

    partner_server.expect_request("/endless").respond_with_handler(
        lambda request: Response(endless(), content_type="application/rss+xml")
    )
    settings = FetchSettings(allow_private=True, max_bytes=1 * MIB, total_timeout=10)
    started = time.monotonic()
    result = fetch(partner_server.url_for("/endless"), settings=settings)
    assert (result.outcome, result.error) == ("error", "response larger than 1 MiB")
    assert result.body == b""
    assert time.monotonic() - started < 5
    assert closed.wait(10)  # the server noticed the closed connection
    # Only what fit in the limit plus socket buffers was ever produced, not the 256 MiB on offer.
    assert produced[0] < 32 * MIB


def test_gzip_bomb_is_cut_at_the_limit_without_expanding_it(
    partner_server: HTTPServer, permissive: FetchSettings
) -> None:
    bomb = gzip_bomb(1024 * MIB)  # 1 GiB of zeros
    assert len(bomb) < 2 * MIB
    partner_server.expect_request("/bomb.xml").respond_with_data(
        bomb, content_type="application/rss+xml", headers={"Content-Encoding": "gzip"}
    )
    tracemalloc.start()
    try:
        started = time.monotonic()
        result = fetch(partner_server.url_for("/bomb.xml"), settings=permissive)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.outcome, result.error) == ("error", "response larger than 10 MiB")
    assert peak < 16 * MIB  # the 10 MiB limit and change, nowhere near 1 GiB
    assert elapsed < 5


def test_a_server_that_hangs_times_out_quickly(partner_server: HTTPServer, release: threading.Event) -> None:
    def hang(request: Request) -> Response:
        release.wait(10)
        return Response(RSS)

    partner_server.expect_request("/hang").respond_with_handler(hang)
    settings = FetchSettings(allow_private=True, total_timeout=0.5)
    started = time.monotonic()
    result = fetch(partner_server.url_for("/hang"), settings=settings)
    elapsed = time.monotonic() - started
    assert (result.outcome, result.error) == ("error", "timed out after 0.5 s")
    assert elapsed < 1.5


def test_the_deadline_covers_the_whole_download(partner_server: HTTPServer, release: threading.Event) -> None:
    """A slow drip (a few bytes every 0.2 s) never trips a per-read timeout, but the deadline."""

    def drip() -> Iterator[bytes]:
        yield b'<?xml version="1.0"?><rss version="2.0"><channel>'
        for _ in range(100):
            if release.wait(0.2):
                return
            yield b"<!-- . -->"

    partner_server.expect_request("/drip").respond_with_handler(lambda request: Response(drip()))
    settings = FetchSettings(allow_private=True, total_timeout=1.0)
    started = time.monotonic()
    result = fetch(partner_server.url_for("/drip"), settings=settings)
    elapsed = time.monotonic() - started
    assert (result.outcome, result.error) == ("error", "timed out after 1 s")
    assert 0.9 <= elapsed < 2.0


def test_connection_refused_is_a_readable_error(permissive: FetchSettings) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = fetch(f"http://127.0.0.1:{port}/rss.xml", settings=permissive)
    assert result.outcome == "error"
    assert result.error is not None and result.error.startswith("could not connect:")


# ----------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_partner(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[HTTPServer, ssl.SSLContext, list[str]]]:
    """An HTTPS server on 127.0.0.1 whose certificate is for partner.example only."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=partner.example", "-addext", "subjectAltName=DNS:partner.example"],
        check=True, capture_output=True,
    )  # fmt: skip
    server_names: list[str] = []
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server_context.sni_callback = lambda sock, name, ctx: server_names.append(name)  # type: ignore[assignment]
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_context)
    server.start()
    server.expect_request("/rss.xml").respond_with_data(RSS, content_type="application/rss+xml")
    client_context = ssl.create_default_context(cafile=str(cert))
    yield server, client_context, server_names
    server.clear()
    server.stop()


def test_tls_uses_the_host_name_while_connecting_to_the_vetted_address(
    tls_partner: tuple[HTTPServer, ssl.SSLContext, list[str]], connections: list[str]
) -> None:
    server, trust, server_names = tls_partner
    names = {"partner.example": ["127.0.0.1"], "impostor.example": ["127.0.0.1"]}
    settings = FetchSettings(
        allow_networks=("127.0.0.1/32",), resolver=lambda host, port: names[host], ssl_context=trust
    )
    result = fetch(f"https://partner.example:{server.port}/rss.xml", settings=settings)
    assert (result.outcome, result.body) == ("ok", RSS)
    assert server_names[-1] == "partner.example"  # SNI carries the name, not the IP
    assert connections[-1] == "127.0.0.1"
    # Same address, other name: the certificate check is against the name and fails.
    refused = fetch(f"https://impostor.example:{server.port}/rss.xml", settings=settings)
    assert refused.outcome == "error"
    assert refused.error is not None and "certificate verify failed" in refused.error
