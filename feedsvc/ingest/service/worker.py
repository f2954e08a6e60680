"""The long-running ingestion loop: fetch what is due, one source at a time, until told to stop."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import FrameType

from flask import current_app

from feedsvc import db, heartbeat, write
from feedsvc.ingest.service import claims, push
from feedsvc.ingest.service.run import IngestResult, ingest_source
from feedsvc.ingest.service.settings import IngestSettings
from feedsvc.models import utcnow

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"worker@{socket.gethostname()}:{os.getpid()}"


class Stop:
    """First SIGTERM/SIGINT: finish the source in hand, then exit. Second: abandon it (rolled back)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        log.info("signal %s: stopping after the source in hand", signum)
        self.event.set()


def due_posts(now: datetime | None = None) -> list[str]:
    """Bump every feed scope whose next due time passed (a scheduled post's time came), so the feeds
    change and hub deliveries go out even when nobody polls."""
    moment = now or utcnow()
    try:
        with db.new_session() as session:
            return write.run(session, lambda s: write.come_due(s, moment))
    except Exception:  # the fetching goes on; the next pass tries again
        log.exception("due posts step failed")
        return []


RENEW_EVERY = 300.0  # seconds between looks for WebSub leases to renew


def _renew_push(settings: IngestSettings) -> None:
    """The worker's WebSub job: renew subscriptions before their leases end, retry failed ones."""
    with db.new_session() as session:
        try:
            push.renew_due(session, settings)
        except Exception:  # a hub's trouble must not stop the fetching
            log.exception("renewing WebSub subscriptions failed")
            session.rollback()


def run(
    settings: IngestSettings,
    *,
    owner: str | None = None,
    idle_sleep: float = 5.0,
    batch: int = 5,
    stop: Stop | None = None,
    report: Callable[[IngestResult], None] = lambda _r: None,
    max_passes: int | None = None,
) -> int:
    """Loop until stopped (or ``max_passes`` claim rounds); returns how many sources were fetched."""
    owner = owner or worker_name()
    stop = stop or Stop()
    done = passes = 0
    renewed_at = 0.0
    while not stop.event.is_set() and (max_passes is None or passes < max_passes):
        passes += 1
        heartbeat.beat(current_app._get_current_object(), "ingest", owner)  # type: ignore[attr-defined]
        due_posts()
        if time.monotonic() - renewed_at >= RENEW_EVERY:
            renewed_at = time.monotonic()
            _renew_push(settings)
        with db.new_session() as session:
            ids = claims.claim_due(
                session,
                owner,
                utcnow(),
                settings.lease_seconds,
                batch,
                settings.per_host,
                settings.max_concurrent,
            )
            try:
                for n, source_id in enumerate(ids):
                    if stop.event.is_set():
                        for left in ids[n:]:
                            claims.release(session, left, owner)
                        break
                    report(ingest_source(session, source_id, owner, settings, claimed=True))
                    done += 1
            except KeyboardInterrupt:
                session.rollback()
                for left in ids:
                    claims.release(session, left, owner)
                raise
        if not ids:
            stop.event.wait(idle_sleep)
    return done
