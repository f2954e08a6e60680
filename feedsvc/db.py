"""Engine and session handling: one engine per app, one session per request or CLI command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from feedsvc.feedstate import StateReader


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers (feed polls) run while the ingestion worker writes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, **kwargs)


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["feedsvc.engine"] = engine
    app.extensions["feedsvc.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.extensions["feedsvc.state_reader"] = StateReader(engine)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions["feedsvc.engine"]


def state_reader() -> StateReader:
    return current_app.extensions["feedsvc.state_reader"]


def session() -> Session:
    """The request's (or command's) session, created on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["feedsvc.sessionmaker"]()
    return g.db_session


@contextmanager
def new_session() -> Iterator[Session]:
    """A session of its own, for work that must commit or roll back independently."""
    s: Session = current_app.extensions["feedsvc.sessionmaker"]()
    try:
        yield s
    finally:
        s.close()


def _close_session(_exc: BaseException | None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        s.close()
