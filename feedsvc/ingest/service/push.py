"""WebSub subscriber: partners whose feeds name a hub push their updates to us.

* ``discovered`` (in the fetch's transaction): the hub and topic a fetched feed advertises
  (``atom:link rel="hub"`` + ``rel="self"``, JSON Feed ``hubs``, or HTTP ``Link`` headers);
* ``after_fetch``: subscribe when a hub is new, or a failed attempt is due again;
* ``subscribe`` / ``unsubscribe``: the hub request, through the same SSRF-guarded fetcher as feeds.
  The subscription is committed as pending *before* the hub is asked, because a hub may verify
  the intent (GET on our callback) before it answers;
* ``verify`` / ``signature_ok``: what the callback (``feedsvc.public.websub_callback``) checks;
* ``renew_due``: the worker's job, renewing leases before they end and retrying failures.

Polling goes on while pushes arrive, at the longest interval (``schedule.interval``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from feedsvc.ingest.item import ParsedFeed
from feedsvc.ingest.service.settings import IngestSettings
from feedsvc.ingest.stages.fetch import FetchResult, fetch, links_from_header
from feedsvc.ingest.stages.normalise import absolute_http_url
from feedsvc.models import Source, utcnow

log = logging.getLogger(__name__)
PENDING, ACTIVE, UNSUBSCRIBING, FAILED = "pending", "active", "unsubscribing", "failed"
RETRY_FAILED = timedelta(hours=6)
# Renew when less than this share of the lease the hub granted is left.
RENEW_SHARE = 0.1
_DIGESTS = {
    "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512,
}  # fmt: skip


def discovered(source: Source, parsed: ParsedFeed, fetched: FetchResult) -> None:
    """Record the hub and topic a fetched feed advertises; a new pair needs a new subscription."""
    links = links_from_header(fetched.headers.get("link"))
    hub = parsed.hints.websub_hub or absolute_http_url(links.get("hub"), fetched.final_url)
    if hub is None:
        return
    topic = (
        absolute_http_url(links.get("self"), fetched.final_url) if links.get("hub") else None
    ) or parsed.self_url or source.url
    if (hub, topic) != (source.hub_url, source.topic_url):
        source.hub_url, source.topic_url = hub, topic
        source.push_state, source.push_lease_until = None, None


def callback_url(settings: IngestSettings, source: Source) -> str:
    return f"{settings.base_url.rstrip('/')}/websub/callback/{source.id}/{source.push_token}"


def _hub_request(source: Source, settings: IngestSettings, mode: str) -> FetchResult:
    form = {
        "hub.mode": mode,
        "hub.topic": source.topic_url or source.url,
        "hub.callback": callback_url(settings, source),
    }
    if mode == "subscribe":
        form["hub.secret"] = source.push_secret or ""
        form["hub.lease_seconds"] = str(settings.push_lease_seconds)
    return fetch(source.hub_url or "", settings=settings.fetch, accept="*/*", form=form)


def subscribe(session: Session, source_id: int, settings: IngestSettings) -> bool:
    """Ask the source's hub for pushes; True when the hub accepted the request. Commits."""
    source = session.get(Source, source_id, populate_existing=True)
    if source is None or not source.hub_url or not source.enabled:
        session.rollback()
        return False
    source.push_secret = source.push_secret or secrets.token_hex(32)
    source.push_token = source.push_token or secrets.token_urlsafe(24)
    if source.push_state != ACTIVE:  # a renewal keeps pushes flowing while the hub re-verifies
        source.push_state = PENDING
    session.commit()
    result = _hub_request(source, settings, "subscribe")
    if result.status is not None and 200 <= result.status < 300:
        return True
    reason = result.error or f"HTTP {result.status}"
    session.execute(
        update(Source)
        .where(Source.id == source_id, Source.push_state == PENDING)
        .values(
            push_state=FAILED,
            push_lease_until=utcnow() + RETRY_FAILED,
            last_warning=f"WebSub hub {source.hub_url} refused the subscription: {reason}"[:500],
        )
    )
    session.commit()
    return False


def unsubscribe(session: Session, source: Source, settings: IngestSettings) -> None:
    """Tell the hub to stop (source disabled or deleted). Commits the source's state first."""
    if not source.hub_url or source.push_state not in (PENDING, ACTIVE):
        return
    source.push_state = UNSUBSCRIBING
    session.commit()
    result = _hub_request(source, settings, "unsubscribe")
    if result.status is None or not 200 <= result.status < 300:
        log.warning("hub %s refused to unsubscribe source %s: %s", source.hub_url, source.id, result.error)


def after_fetch(session: Session, source_id: int, settings: IngestSettings) -> None:
    """Subscribe when the last fetch found a hub we are not subscribed to (or a retry is due)."""
    now = utcnow()
    row = session.execute(
        select(Source.hub_url, Source.push_state, Source.push_lease_until, Source.enabled).where(
            Source.id == source_id
        )
    ).first()
    session.commit()
    if row is None or not row.hub_url:
        return
    if not row.enabled:  # disabled by this fetch (gone, too many errors): stop the pushes too
        source = session.get(Source, source_id)
        if source is not None:
            unsubscribe(session, source, settings)
        session.rollback()
        return
    if row.push_state is None or (row.push_state == FAILED and (row.push_lease_until or now) <= now):
        subscribe(session, source_id, settings)


def renew_due(session: Session, settings: IngestSettings, now: datetime | None = None) -> int:
    """Renew leases close to their end, and retry failed subscriptions that are due. Commits."""
    now = now or utcnow()
    rows = session.execute(
        select(Source.id, Source.push_state, Source.push_lease_until, Source.push_verified_at).where(
            Source.enabled.is_(True),
            Source.hub_url.is_not(None),
            Source.push_state.in_((ACTIVE, FAILED)),
            Source.push_lease_until.is_not(None),
        )
    ).all()
    session.commit()
    ids = []
    for row in rows:
        if row.push_state == FAILED:
            due = row.push_lease_until <= now
        else:
            granted = row.push_lease_until - (row.push_verified_at or row.push_lease_until)
            due = row.push_lease_until - now < max(granted * RENEW_SHARE, timedelta(minutes=1))
        if due:
            ids.append(row.id)
    return sum(subscribe(session, source_id, settings) for source_id in ids)


def token_ok(source: Source, token: str) -> bool:
    return bool(source.push_token) and hmac.compare_digest(source.push_token or "", token)


def verify(
    session: Session,
    source: Source,
    mode: str,
    topic: str,
    lease_seconds: int | None,
    settings: IngestSettings,
) -> bool:
    """Whether to confirm the hub's verification request; records the outcome (caller commits)."""
    if topic != (source.topic_url or source.url):
        return False
    if mode == "subscribe" and source.push_state in (PENDING, ACTIVE) and source.enabled:
        lease = lease_seconds if lease_seconds and lease_seconds > 0 else settings.push_lease_seconds
        now = utcnow()
        source.push_state, source.push_lease_until = ACTIVE, now + timedelta(seconds=lease)
        source.push_verified_at = now
        return True
    if mode == "unsubscribe" and source.push_state == UNSUBSCRIBING:
        source.push_state, source.push_lease_until = None, None
        return True
    return False


def signature_ok(source: Source, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature: <method>=<hex HMAC of the body with our secret>``."""
    if not header or not source.push_secret or "=" not in header:
        return False
    method, _, given = header.strip().partition("=")
    digest = _DIGESTS.get(method.strip().lower())
    if digest is None:
        return False
    expected = hmac.new(source.push_secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())
