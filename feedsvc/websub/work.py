"""The worker side of WebSub and cache purges: everything that talks to other servers.

One pass (``Publisher.work_once``):

1. expire subscriptions whose lease ran out;
2. take the outbox rows of scopes that have been quiet for ``WEBSUB_QUIET`` seconds (or waited
   ``WEBSUB_MAX_DELAY``) and fan them out, in the same transaction that deletes them: a purge row per
   feed URL, a publish-ping row per (external hub, feed URL) and a "changed" mark on every active
   subscription of the scope. These rows are per target, updated in place, so a burst stays one;
3. verify the intent of pending subscribe and unsubscribe requests (a GET with a challenge);
4. send due pings and purges, then due deliveries (the feed's current document, signed).

Every row is claimed (``FOR UPDATE SKIP LOCKED`` and a short lease in ``next_attempt_at``) before the
network is used, so several workers share the work and a crashed one only delays its rows. A target is
"done" when its last success covered its latest change (``covered_at >= changed_at``); a failure backs
off exponentially and the row stays due, so nothing is lost while a hub or the process is down.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from flask import Flask
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import heartbeat, write
from feedsvc.ingest.stages.netguard import BlockedAddressError
from feedsvc.models import WebSubOutbox, WebSubPing, WebSubRateLimit, WebSubSubscription, utcnow
from feedsvc.public.request import FeedRequest
from feedsvc.public.serving import Answer, FeedServer
from feedsvc.site import Site
from feedsvc.websub import http
from feedsvc.websub.purge import purge
from feedsvc.websub.settings import WebSubSettings, feed_urls

log = logging.getLogger(__name__)

_OUTBOX = WebSubOutbox.__table__
_PINGS = WebSubPing.__table__
_SUBS = WebSubSubscription.__table__
CLAIM_SECONDS = 60  # a claimed row is someone's for this long; the exchange's timeout is shorter
VERIFY_ATTEMPTS = 3  # network failures before a verification counts as refused
MAX_ERROR = 500


@dataclass
class Pass:
    """What one pass did (tests and the worker's idle decision read it)."""

    fanned_out: int = 0
    verified: int = 0
    pings: int = 0
    deliveries: int = 0
    failures: int = 0
    details: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fanned_out or self.verified or self.pings or self.deliveries or self.failures)


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to the query it may already have (the Recommendation requires it)."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _error_text(error: BaseException) -> str:
    if isinstance(error, BlockedAddressError):
        return str(error)
    return f"{type(error).__name__}: {error}"[:MAX_ERROR]


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Publisher:
    """Holds one app's dependencies; needs no app context, so it runs in any thread."""

    def __init__(self, app: Flask) -> None:
        self.settings: WebSubSettings = app.extensions["feedsvc.websub"]
        self.site: Site = app.extensions["feedsvc.site"]
        self.server: FeedServer = app.extensions["feedsvc.server"]
        self.factory: sessionmaker[Session] = app.extensions["feedsvc.sessionmaker"]
        self.policy = http.address_policy(self.settings.allow_private, self.settings.allow_networks)
        self.pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="feedsvc-websub")
        self._last_cleanup = 0.0

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # -- one pass ---------------------------------------------------------------------------------

    def work_once(self, batch: int = 500) -> Pass:
        done = Pass()
        now = utcnow()
        self._come_due(now)
        self._expire(now)
        done.fanned_out = self._fan_out(now)
        self._verify(done, batch)
        self._send_pings(done, batch)
        self._deliver(done, batch)
        if time.monotonic() - self._last_cleanup > 60:
            self._cleanup(now)
        return done

    def _come_due(self, now: datetime) -> None:
        """Scheduled posts whose time came change their feeds here too (besides the first poll
        after it), so subscribers hear of them within a pass even when nobody polls."""
        with self.factory() as session:
            write.run(session, lambda s: write.come_due(s, now))

    def _expire(self, now: datetime) -> None:
        with self.factory() as session:
            session.execute(
                update(_SUBS)
                .where(_SUBS.c.state == "active", _SUBS.c.expires_at <= now)
                .values(state="expired", updated_at=now)
            )
            session.commit()

    def _cleanup(self, now: datetime) -> None:
        self._last_cleanup = time.monotonic()
        with self.factory() as session:
            session.execute(
                delete(WebSubRateLimit).where(WebSubRateLimit.window_start < now - timedelta(hours=1))
            )
            session.commit()

    # -- fan-out ----------------------------------------------------------------------------------

    def _fan_out(self, now: datetime) -> int:
        s = self.settings
        quiet_since = now - timedelta(seconds=s.quiet)
        waited_since = now - timedelta(seconds=s.max_delay)
        with self.factory() as session:
            rows = session.execute(
                select(_OUTBOX.c.scope, _OUTBOX.c.changed_at, _OUTBOX.c.notify)
                .where(or_(_OUTBOX.c.changed_at <= quiet_since, _OUTBOX.c.first_at <= waited_since))
                .order_by(_OUTBOX.c.scope)
                .limit(200)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            pings: list[dict[str, Any]] = []
            notified: list[str] = []
            for row in rows:
                urls = feed_urls(self.site, row.scope)
                if s.purge_url:
                    pings += [self._ping_row("purge", s.purge_url, url, row.scope, now) for _, url in urls]
                if row.notify:
                    notified.append(row.scope)
                    for hub in s.external_hubs:
                        pings += [self._ping_row("hub", hub, url, row.scope, now) for _, url in urls]
            if pings:
                stmt = _insert(session)(_PINGS)
                # A row in backoff keeps its next attempt; a settled one is due again (its old
                # next_attempt_at lies in the past).
                stmt = stmt.on_conflict_do_update(
                    index_elements=[_PINGS.c.kind, _PINGS.c.key],
                    set_={"changed_at": stmt.excluded.changed_at},
                )
                session.execute(stmt, pings)
            if notified and s.own_hub:
                session.execute(
                    update(_SUBS)
                    .where(_SUBS.c.scope.in_(notified), _SUBS.c.state == "active")
                    .values(changed_at=now)
                )
            for row in rows:
                session.execute(
                    delete(_OUTBOX).where(
                        _OUTBOX.c.scope == row.scope, _OUTBOX.c.changed_at == row.changed_at
                    )
                )
            session.commit()
        return len(rows)

    @staticmethod
    def _ping_row(kind: str, target: str, topic: str, scope: str, now: datetime) -> dict[str, Any]:
        return {
            "kind": kind,
            "key": _key(target, topic),
            "target": target,
            "topic": topic,
            "scope": scope,
            "changed_at": now,
            "next_attempt_at": now,
            "failures": 0,
        }

    # -- claiming ---------------------------------------------------------------------------------

    def _claim(
        self, table: Any, due: Any, columns: Iterable[Any], batch: int, when: str = "next_attempt_at"
    ) -> tuple[list[Any], datetime]:
        """Rows matching ``due``, made ours by moving their ``when`` column to the returned instant."""
        now = utcnow()
        until = now + timedelta(seconds=CLAIM_SECONDS)
        with self.factory() as session:
            rows = session.execute(
                select(table.c.id, *columns)
                .where(due(now))
                .order_by(table.c[when])
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                session.execute(
                    update(table).where(table.c.id.in_([r.id for r in rows])).values({when: until})
                )
                session.commit()
        return rows, until

    def _record(self, table: Any, results: list[tuple[int, dict[str, Any], Any]]) -> None:
        """Write each row's outcome; ``guard`` (a condition or None) keeps a newer request intact."""
        if not results:
            return
        with self.factory() as session:
            for row_id, values, guard in results:
                stmt = update(table).where(table.c.id == row_id)
                if guard is not None:
                    stmt = stmt.where(guard)
                session.execute(stmt.values(values))
            session.commit()

    def _map(self, fn: Callable[[Any], Any], rows: list[Any]) -> list[Any]:
        if len(rows) == 1:
            return [fn(rows[0])]
        return list(self.pool.map(fn, rows))

    # -- verification of intent -------------------------------------------------------------------

    def _verify(self, done: Pass, batch: int) -> None:
        rows, claimed = self._claim(
            _SUBS,
            lambda now: _SUBS.c.verify_due_at <= now,
            (
                _SUBS.c.callback,
                _SUBS.c.topic,
                _SUBS.c.state,
                _SUBS.c.pending_mode,
                _SUBS.c.pending_lease,
                _SUBS.c.pending_secret,
                _SUBS.c.verify_attempts,
            ),
            batch,
            when="verify_due_at",
        )
        if not rows:
            return
        outcomes = self._map(self._verify_one, rows)
        results = []
        now = utcnow()
        for row, (confirmed, retry, status, error) in zip(rows, outcomes, strict=True):
            done.verified += 1
            # Only the request that was verified is applied: a newer one (which set verify_due_at
            # anew) waits for its own check.
            guard = _SUBS.c.verify_due_at == claimed
            values: dict[str, Any] = {"updated_at": now, "last_status": status, "last_error": error}
            if retry and row.verify_attempts + 1 < VERIFY_ATTEMPTS:
                delay = self.settings.backoff(row.verify_attempts + 1)
                values.update(
                    verify_attempts=row.verify_attempts + 1, verify_due_at=now + timedelta(seconds=delay)
                )
                results.append((row.id, values, guard))
                continue
            values.update(pending_mode=None, pending_lease=None, pending_secret=None, verify_due_at=None)
            if confirmed and row.pending_mode == "subscribe":
                values.update(
                    state="active",
                    secret=row.pending_secret,
                    lease_seconds=row.pending_lease,
                    expires_at=now + timedelta(seconds=row.pending_lease),
                    next_attempt_at=now,
                    failures=0,
                    first_failure_at=None,
                )
            elif confirmed:
                values.update(state="unsubscribed", secret=None, expires_at=now)
            elif row.state == "pending":
                values.update(state="denied")  # an active subscription stays as it was
            done.details.append(f"verify {row.pending_mode} {row.callback}: {'ok' if confirmed else error}")
            results.append((row.id, values, guard))
        self._record(_SUBS, results)

    def _verify_one(self, row: Any) -> tuple[bool, bool, int | None, str | None]:
        """(confirmed, worth retrying, HTTP status, error) of one verification GET."""
        challenge = secrets.token_urlsafe(24)
        params = {"hub.mode": row.pending_mode, "hub.topic": row.topic, "hub.challenge": challenge}
        if row.pending_mode == "subscribe":
            params["hub.lease_seconds"] = str(row.pending_lease)
        try:
            with http.guarded_client(self.policy, self.settings.timeout) as client:
                response = client.get(_with_query(row.callback, params))
                body = response.read()[:1024]
        except (httpx.HTTPError, BlockedAddressError, OSError) as error:
            return False, not isinstance(error, BlockedAddressError), None, _error_text(error)
        status = response.status_code
        if not 200 <= status < 300:
            return False, status >= 500, status, f"verification answered HTTP {status}"
        if body.strip() != challenge.encode():
            return False, False, status, "verification answer did not echo hub.challenge"
        return True, False, status, None

    # -- pings and purges -------------------------------------------------------------------------

    def _send_pings(self, done: Pass, batch: int) -> None:
        rows, _ = self._claim(
            _PINGS,
            lambda now: and_(
                _PINGS.c.next_attempt_at <= now,
                or_(_PINGS.c.covered_at.is_(None), _PINGS.c.changed_at > _PINGS.c.covered_at),
            ),
            (
                _PINGS.c.kind,
                _PINGS.c.target,
                _PINGS.c.topic,
                _PINGS.c.scope,
                _PINGS.c.changed_at,
                _PINGS.c.failures,
            ),
            batch,
        )
        if not rows:
            return
        outcomes = self._map(self._ping_one, rows)
        now = utcnow()
        results = []
        for row, (status, error) in zip(rows, outcomes, strict=True):
            values: dict[str, Any] = {"last_attempt_at": now, "last_status": status, "last_error": error}
            if error is None:
                done.pings += 1
                values.update(covered_at=row.changed_at, failures=0, last_success_at=now, next_attempt_at=now)
            else:
                done.failures += 1
                failures = row.failures + 1
                delay = self.settings.backoff(failures)
                values.update(failures=failures, next_attempt_at=now + timedelta(seconds=delay))
                log.warning(
                    "%s %s for %s failed (%s); retry in %.0f s", row.kind, row.target, row.topic, error, delay
                )
            results.append((row.id, values, None))
        self._record(_PINGS, results)

    def _ping_one(self, row: Any) -> tuple[int | None, str | None]:
        try:
            with http.trusted_client(self.settings.timeout) as client:
                if row.kind == "hub":
                    # hub.url is the common name; some hubs read hub.topic, so both are sent.
                    response = client.post(
                        row.target, data={"hub.mode": "publish", "hub.url": row.topic, "hub.topic": row.topic}
                    )
                    ok = 200 <= response.status_code < 300
                else:
                    response = purge(client, self.settings, row.scope, row.topic)
                    # Nothing cached under the URL (404) is as good as purged.
                    ok = 200 <= response.status_code < 300 or response.status_code == 404
        except httpx.HTTPError as error:
            return None, _error_text(error)
        return response.status_code, None if ok else f"HTTP {response.status_code}"

    # -- deliveries -------------------------------------------------------------------------------

    def _deliver(self, done: Pass, batch: int) -> None:
        if not self.settings.own_hub:
            return
        rows, _ = self._claim(
            _SUBS,
            lambda now: and_(
                _SUBS.c.state == "active",
                _SUBS.c.next_attempt_at <= now,
                _SUBS.c.expires_at > now,
                _SUBS.c.changed_at.is_not(None),
                or_(_SUBS.c.covered_at.is_(None), _SUBS.c.changed_at > _SUBS.c.covered_at),
            ),
            (
                _SUBS.c.callback,
                _SUBS.c.topic,
                _SUBS.c.secret,
                _SUBS.c.changed_at,
                _SUBS.c.failures,
                _SUBS.c.first_failure_at,
            ),
            batch,
        )
        if not rows:
            return
        # One render per topic, however many subscribe to it; rendered after the claim, so the
        # document includes every change the claimed rows announce.
        documents: dict[str, Answer | None] = {}
        for row in rows:
            if row.topic not in documents:
                documents[row.topic] = self._document(row.topic)
        outcomes = self._map(lambda r: self._deliver_one(r, documents[r.topic]), rows)
        now = utcnow()
        results = []
        for row, (status, error) in zip(rows, outcomes, strict=True):
            values: dict[str, Any] = {"last_attempt_at": now, "last_status": status, "updated_at": now}
            if error is None:
                done.deliveries += 1
                values.update(
                    covered_at=row.changed_at,
                    failures=0,
                    first_failure_at=None,
                    last_delivery_at=now,
                    last_error=None,
                    next_attempt_at=now,
                )
            elif status == 410:
                values.update(state="unsubscribed", last_error="the callback answered 410 Gone")
            else:
                done.failures += 1
                failures = row.failures + 1
                values.update(
                    failures=failures,
                    first_failure_at=row.first_failure_at or now,
                    last_error=error,
                    next_attempt_at=now + timedelta(seconds=self.settings.backoff(failures)),
                )
                if failures >= self.settings.max_failures:
                    values["state"] = "failed"
            # An unsubscription confirmed meanwhile stays confirmed.
            results.append((row.id, values, _SUBS.c.state == "active"))
        self._record(_SUBS, results)

    def _document(self, topic: str) -> Answer | None:
        parts = urlsplit(topic)
        parsed = self.server.parse(
            {"PATH_INFO": parts.path, "QUERY_STRING": parts.query, "REQUEST_METHOD": "GET"}
        )
        if not isinstance(parsed, FeedRequest):
            return None
        answer = self.server.answer(parsed)
        return answer if answer.status == 200 else None

    def _deliver_one(self, row: Any, document: Answer | None) -> tuple[int | None, str | None]:
        if document is None:
            return None, "the feed could not be rendered"
        links = [f'<{hub}>; rel="hub"' for hub in self.settings.hubs] + [f'<{row.topic}>; rel="self"']
        headers = {"Content-Type": document.headers["Content-Type"], "Link": ", ".join(links)}
        if row.secret:
            headers["X-Hub-Signature"] = sign(row.secret, document.body)
        try:
            with http.guarded_client(self.policy, self.settings.timeout) as client:
                response = client.post(row.callback, content=document.body, headers=headers)
                response.read()
        except (httpx.HTTPError, BlockedAddressError, OSError) as error:
            return None, _error_text(error)
        status = response.status_code
        return status, None if 200 <= status < 300 else f"HTTP {status}"


def run(app: Flask, stop: threading.Event, interval: float = 0.2) -> None:
    """Passes until ``stop`` is set; an idle pass waits ``interval`` seconds (the added latency)."""
    publisher = Publisher(app)
    try:
        while not stop.is_set():
            heartbeat.beat(app, "websub")
            try:
                busy = publisher.work_once()
            except Exception:  # the database may be down: try again shortly, never die
                log.exception("websub pass failed")
                busy = Pass()
                stop.wait(2.0)
            if not busy:
                stop.wait(interval)
    finally:
        publisher.close()


def start_thread(app: Flask, stop: threading.Event, interval: float = 0.2) -> threading.Thread:
    thread = threading.Thread(target=run, args=(app, stop, interval), name="feedsvc-websub", daemon=True)
    thread.start()
    return thread
