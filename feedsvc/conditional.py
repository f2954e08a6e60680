"""HTTP validators: deciding a 304 from the request headers alone, before anything is rendered."""

from __future__ import annotations

from datetime import datetime

from werkzeug.http import parse_date


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2) of ``etag`` against an If-None-Match list."""
    value = if_none_match.strip()
    if value == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(part.strip().removeprefix("W/") == ours for part in value.split(","))


def not_modified(headers: dict[str, str] | object, etag: str, modified_at: datetime) -> bool:
    """True when the client's copy is current. If-None-Match, when present, decides alone."""
    get = headers.get  # type: ignore[attr-defined]
    inm = get("If-None-Match")
    if inm is not None:
        return etag_matches(inm, etag)
    ims = get("If-Modified-Since")
    if ims:
        since = parse_date(ims)
        # HTTP dates have whole seconds: compare at that precision.
        return since is not None and modified_at.replace(microsecond=0) <= since
    return False
