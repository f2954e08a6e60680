"""Worker heartbeats: each worker loop calls ``beat`` once a pass; ``feedsvc status`` reads ``recent``.

A row per process and loop kind, written at most every ``EVERY`` seconds, so a loop passing five
times a second costs one small write every few seconds. A failed write is only logged at debug: the
heartbeat must never stop the work it reports on, and an outage is the loop's to log.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from feedsvc.models import WorkerHeartbeat, utcnow

log = logging.getLogger(__name__)

EVERY = 5.0  # seconds between writes of one loop
STALE = 60.0  # a loop silent longer than this is shown as stale
KEEP = timedelta(days=7)  # rows of processes gone this long are removed

_lock = threading.Lock()
_state: dict[str, tuple[float, datetime, int]] = {}  # name → (last write, monotonic; started; passes)


def beat(app: Flask, kind: str, owner: str | None = None) -> None:
    """Record one pass of the ``kind`` loop ("ingest", "websub") of worker ``owner`` (this process)."""
    name = f"{kind}:{owner or f'{socket.gethostname()}:{os.getpid()}'}"[:150]
    now = time.monotonic()
    with _lock:
        last, started, passes = _state.get(name, (0.0, utcnow(), 0))
        passes += 1
        due = now - last >= EVERY
        _state[name] = (now if due else last, started, passes)
    if not due:
        return
    factory: sessionmaker[Session] = app.extensions["feedsvc.sessionmaker"]
    try:
        with factory() as s:
            _write(s, name, kind, started, passes, first=last == 0.0)
    except Exception as exc:  # never stop the loop (see above)
        log.debug("heartbeat of %s not written: %s", name, exc)
        with _lock:
            _state[name] = (0.0, started, passes)  # try again next pass


def _write(s: Session, name: str, kind: str, started: datetime, passes: int, first: bool) -> None:
    at = utcnow()
    done = s.execute(
        update(WorkerHeartbeat).where(WorkerHeartbeat.name == name).values(beat_at=at, passes=passes)
    ).rowcount
    if not done:
        s.add(WorkerHeartbeat(name=name, kind=kind, started_at=started, beat_at=at, passes=passes))
    if first:
        s.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < at - KEEP))
    s.commit()


@dataclass(frozen=True)
class Beat:
    name: str
    kind: str
    started_at: datetime
    beat_at: datetime
    passes: int

    def age(self, now: datetime) -> float:
        return max(0.0, (now - self.beat_at).total_seconds())


def recent(s: Session, since: timedelta = timedelta(days=1)) -> list[Beat]:
    """Loops heard from within ``since``, newest first."""
    rows = s.scalars(
        select(WorkerHeartbeat)
        .where(WorkerHeartbeat.beat_at >= utcnow() - since)
        .order_by(WorkerHeartbeat.beat_at.desc())
    )
    return [Beat(r.name, r.kind, r.started_at, r.beat_at, r.passes) for r in rows]
