"""Download a partner feed: conditional GET, redirects followed hop by hop, hard limits.

``fetch`` never raises for anything a partner (or the network) does: every failure comes back as
a ``FetchResult`` with ``outcome="error"`` and a human-readable ``error``. Limits:

* one deadline (``total_timeout``) over the whole exchange, redirects and body included, enforced
  per socket operation by ``netguard.DeadlineStream`` (a slow-drip server cannot stretch it);
* ``max_bytes`` counted after decompression, which we do ourselves with a bounded inflater, so a
  gzip bomb is cut at the limit and never expanded in memory beyond it;
* every connection goes through the SSRF guard (``netguard``), on every redirect hop.
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from feedsvc.ingest.outcome import Outcome
from feedsvc.ingest.stages.netguard import (
    AddressPolicy,
    BlockedAddressError,
    GuardedBackend,
    GuardedTransport,
    Resolver,
    system_resolver,
)
from feedsvc.urls import WEB_SCHEMES

KIB = 1024
MIB = 1024 * KIB


PRODUCT = "feedsvc/0.1"
DEFAULT_USER_AGENT = f"{PRODUCT} (partner feed reader)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
ACCEPT_HTML = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL_RE = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""", re.IGNORECASE)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_CHUNK = 64 * KIB


def build_user_agent(base_url: str) -> str:
    """A descriptive User-Agent that tells partners who is reading and where to look."""
    return f"{PRODUCT} (+{base_url.rstrip('/')}; partner feed reader)"


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = 5.0  # seconds, per connection attempt
    total_timeout: float = 30.0  # seconds, deadline for the whole exchange
    max_bytes: int = 10 * MIB  # decoded body size; the download is cut beyond it
    max_redirects: int = 5
    allow_private: bool = False  # disables the SSRF guard (local development only)
    # Non-public networks let through anyway, e.g. ("127.0.0.1/32",) for a test server.
    allow_networks: tuple[str, ...] = ()
    # Name resolution hook; tests map partner host names to the loopback test server.
    resolver: Resolver | None = field(default=None, compare=False)
    # TLS trust other than the system CAs (a partner's private CA; tests). Hostname checks stay on.
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)

    @classmethod
    def from_config(
        cls, base_url: str, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> FetchSettings:
        """Settings outside an app: UA naming the service URL; the guard's exceptions come from the
        environment through the settings registry (FEEDSVC_ALLOW_PRIVATE_SOURCES,
        FEEDSVC_FETCH_ALLOW_NETWORKS)."""
        from feedsvc.config import env_value

        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "user_agent": build_user_agent(base_url),
            "allow_private": env_value("ALLOW_PRIVATE_SOURCES", env),
            "allow_networks": env_value("FETCH_ALLOW_NETWORKS", env),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class FetchResult:
    url: str  # as requested
    outcome: Outcome
    status: int | None  # HTTP status of the last response; None when none was received
    final_url: str  # URL of the last request made (after redirects)
    moved_permanently_to: str | None = None  # set when every redirect hop was 301/308
    body: bytes = b""  # decoded (decompressed) body; empty unless outcome == "ok"
    headers: dict[str, str] = field(default_factory=dict)  # last response, lower-case names
    etag: str | None = None  # verbatim, to send back as If-None-Match
    last_modified: str | None = None  # verbatim, to send back as If-Modified-Since
    sha256: str | None = None  # hex digest of body, for "did anything change" shortcuts
    retry_after: int | None = None  # seconds, from Retry-After (seconds or HTTP-date)
    max_age: int | None = None  # seconds, from Cache-Control max-age
    error: str | None = None  # human-readable reason when outcome is "error"/"gone"/"retry_later"
    redirects: tuple[str, ...] = ()  # every URL redirected to, in order
    elapsed: float = 0.0  # seconds

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


class _Failure(Exception):
    """Internal: abort the fetch with this human-readable message."""


def human_size(n: int) -> str:
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    if n >= KIB and n % KIB == 0:
        return f"{n // KIB} KiB"
    return f"{n} bytes"


def _seconds(value: float) -> str:
    return f"{value:g} s"


def parse_retry_after(value: str | None, now: datetime | None = None) -> int | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (past → 0)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isdigit alone accepts "²"
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0, round(delta))


def parse_max_age(cache_control: str | None) -> int | None:
    if not cache_control:
        return None
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            value = value.strip().strip('"')
            return int(value) if value.isascii() and value.isdigit() else None
    return None


_GZIP_MAGIC = b"\x1f\x8b"


class _Inflater:
    """Bounded gzip/deflate decoder: never produces more output than the caller allows."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._obj: zlib._Decompress | None = None  # None between streams (gzip members)
        self._streams = 0
        self._pending = b""  # the first byte of a stream, when it arrived alone
        self._done = False

    def _start(self, data: bytes) -> bool:
        """Open a decoder for a stream beginning at ``data``; False when ``data`` is trailing junk."""
        if self._gzip:
            # Concatenated gzip members are one body; anything else after the end is padding.
            if self._streams and data[:2] != _GZIP_MAGIC:
                return False
            self._obj = zlib.decompressobj(31)
        else:
            if self._streams:
                return False
            # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
            zlib_header = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._obj = zlib.decompressobj(15 if zlib_header else -15)
        self._streams += 1
        return True

    def feed(self, data: bytes, limit: int) -> list[bytes]:
        """Decode ``data`` into at most ``limit`` bytes (reaching ``limit`` means "too large").

        Output comes in slices of at most ``_CHUNK``, so a bomb never materialises one big buffer.
        """
        data = self._pending + data
        self._pending = b""
        out: list[bytes] = []
        produced = 0
        while data and not self._done and produced < limit:
            if self._obj is None:
                if len(data) < 2:  # too little to recognise a header: wait for more
                    self._pending = data
                    break
                if not self._start(data):
                    self._done = True
                    break
            assert self._obj is not None
            piece = self._obj.decompress(data, min(limit - produced, _CHUNK))
            out.append(piece)
            produced += len(piece)
            data = self._obj.unconsumed_tail
            if self._obj.eof:
                data = self._obj.unused_data
                self._obj = None
        return out


def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        inflater = None
        declared = response.headers.get("content-length", "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
            raise _Failure(f"response larger than {human_size(max_bytes)}")
    elif encoding in ("gzip", "x-gzip", "deflate"):
        inflater = _Inflater(encoding)
    else:
        raise _Failure(f"unsupported content encoding {encoding!r}")
    pieces: list[bytes] = []  # joined once at the end: no repeated regrowth of one buffer
    size = 0
    raw_total = 0
    for chunk in response.iter_raw(_CHUNK):
        raw_total += len(chunk)
        if raw_total > max_bytes:
            raise _Failure(f"response larger than {human_size(max_bytes)}")
        # Ask for one byte more than allowed: getting it means the body is over the limit.
        decoded = [chunk] if inflater is None else inflater.feed(chunk, max_bytes - size + 1)
        size += sum(len(piece) for piece in decoded)
        if size > max_bytes:
            raise _Failure(f"response larger than {human_size(max_bytes)}")
        pieces.extend(decoded)
    return b"".join(pieces)


def links_from_header(value: str | None) -> dict[str, str]:
    """rel → URL from an HTTP ``Link`` header (RFC 8288): ``<https://hub/>; rel="hub"``; first wins."""
    found: dict[str, str] = {}
    for match in _LINK_RE.finditer(value or ""):
        rel = _REL_RE.search(match.group(2))
        if rel:
            for name in (rel.group(1) or rel.group(2) or "").lower().split():
                found.setdefault(name, match.group(1).strip())
    return found


def _check_scheme(url: httpx.URL, what: str) -> None:
    if url.scheme not in WEB_SCHEMES:
        shown = url.scheme or "(none)"
        raise _Failure(f"refused: {what} uses unsupported scheme {shown!r} (only http and https)")
    if not url.host:
        raise _Failure(f"refused: {what} has no host")


def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    settings: FetchSettings | None = None,
    accept: str = ACCEPT,
    form: Mapping[str, str] | None = None,
) -> FetchResult:
    """GET ``url`` with the stored validators (or, with ``form``, POST it without following
    redirects: WebSub hub requests); see ``FetchResult`` for what comes back."""
    settings = settings or FetchSettings()
    started = time.monotonic()
    current = url
    redirects: list[str] = []

    def result(outcome: Outcome, **fields: object) -> FetchResult:
        fields.setdefault("status", None)
        return FetchResult(
            url=url,
            outcome=outcome,
            final_url=current,
            redirects=tuple(redirects),
            elapsed=time.monotonic() - started,
            **fields,  # type: ignore[arg-type]
        )

    # Built outside the try: a malformed allow_networks is a configuration bug, not a fetch error.
    policy = AddressPolicy.build(allow_private=settings.allow_private, allow_networks=settings.allow_networks)
    backend = GuardedBackend(
        policy,
        resolver=settings.resolver or system_resolver,
        deadline=started + settings.total_timeout,
    )
    try:
        target = httpx.URL(url)
        _check_scheme(target, "URL")
        request_headers = {
            "User-Agent": settings.user_agent,
            "Accept": accept,
            "Accept-Encoding": "gzip, deflate",
        }
        # Validators go back verbatim: servers compare them as opaque strings.
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        timeout = httpx.Timeout(settings.total_timeout, connect=settings.connect_timeout)
        with httpx.Client(
            transport=GuardedTransport(backend, ssl_context=settings.ssl_context),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,  # env proxies would mount transports that bypass the guard
        ) as client:
            permanent = True
            while True:
                current = str(target)
                method = "POST" if form is not None else "GET"
                with client.stream(method, target, headers=request_headers, data=form) as response:
                    status = response.status_code
                    location = response.headers.get("location")
                    if status in _REDIRECTS and location and form is None:
                        if len(redirects) >= settings.max_redirects:
                            raise _Failure(f"too many redirects (more than {settings.max_redirects})")
                        target = target.join(location.strip())
                        _check_scheme(target, "redirect target")
                        redirects.append(str(target))
                        permanent = permanent and status in _PERMANENT
                        continue
                    headers = dict(response.headers.items())  # lower-case names, repeats joined
                    common: dict[str, object] = {
                        "status": status,
                        "headers": headers,
                        "moved_permanently_to": str(target) if redirects and permanent else None,
                        "etag": response.headers.get("etag"),
                        "last_modified": response.headers.get("last-modified"),
                        "retry_after": parse_retry_after(response.headers.get("retry-after")),
                        "max_age": parse_max_age(response.headers.get("cache-control")),
                    }
                    if status == 304:
                        # A 304 may omit the validators; the ones we sent remain current.
                        common["etag"] = common["etag"] or etag
                        common["last_modified"] = common["last_modified"] or last_modified
                        return result("not_modified", **common)
                    if status == 410:
                        return result("gone", error="HTTP 410: the feed is gone", **common)
                    if status in (429, 503):
                        return result("retry_later", error=f"HTTP {status}", **common)
                    if not 200 <= status < 300:
                        return result("error", error=f"HTTP {status}", **common)
                    body = _read_body(response, settings.max_bytes)
                    return result("ok", body=body, sha256=hashlib.sha256(body).hexdigest(), **common)
    except _Failure as exc:
        return result("error", error=str(exc))
    except BlockedAddressError as exc:
        return result("error", error=str(exc))
    except httpx.TimeoutException as exc:
        if isinstance(exc, httpx.ConnectTimeout) and time.monotonic() - started < settings.total_timeout:
            return result("error", error=f"connection timed out after {_seconds(settings.connect_timeout)}")
        return result("error", error=f"timed out after {_seconds(settings.total_timeout)}")
    except httpx.ConnectError as exc:
        return result("error", error=f"could not connect: {exc}")
    except zlib.error as exc:
        return result("error", error=f"corrupt compressed body: {exc}")
    except httpx.HTTPError as exc:
        return result("error", error=f"HTTP exchange failed: {exc}")
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        return result("error", error=f"invalid URL: {exc}")
    except OSError as exc:
        return result("error", error=f"network error: {exc}")
