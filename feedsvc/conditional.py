"""HTTP validators: deciding a 304 from the request headers alone, before anything is rendered."""

from __future__ import annotations

from datetime import datetime

from werkzeug.http import http_date, parse_accept_header, parse_date


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2) of ``etag`` against an If-None-Match list."""
    value = if_none_match.strip()
    if value == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(part.strip().removeprefix("W/") == ours for part in value.split(","))


def not_modified(
    if_none_match: str | None, if_modified_since: str | None, etag: str, modified_at: datetime
) -> bool:
    """True when the client's copy is current. If-None-Match, when present, decides alone."""
    if if_none_match is not None:
        return etag_matches(if_none_match, etag)
    if if_modified_since:
        since = parse_date(if_modified_since)
        # HTTP dates have whole seconds: compare at that precision.
        return since is not None and modified_at.replace(microsecond=0) <= since
    return False


def accepts_gzip(accept_encoding: str | None) -> bool:
    return (
        bool(accept_encoding)
        and "gzip" in accept_encoding
        and parse_accept_header(accept_encoding)["gzip"] > 0
    )


def validators(
    token: str, modified_at: datetime, fmt: str, limit: int, max_age: int
) -> list[tuple[str, str]]:
    """The headers every answer for this feed representation carries, 200 and 304 alike."""
    return [
        ("ETag", f'W/"{token}.{fmt}.{limit}"'),
        ("Last-Modified", http_date(modified_at)),
        ("Cache-Control", f"public, max-age={max_age}"),
        ("Vary", "Accept-Encoding"),
    ]
