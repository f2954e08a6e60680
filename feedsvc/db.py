"""Engine and session handling, and how the service behaves when the database fails.

One engine per app, one session per request or CLI command. On PostgreSQL every connection is a
``DeadlineConnection``: besides the server's own ``statement_timeout`` (which a hung server cannot
enforce), each wait for the server ends at the deadline the caller set, so a hung database costs a
bounded wait. A failure opens the database breaker: then nothing waits on the database at all (feeds
come from their last copies, the API answers 503) while a background probe finds out when it is back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import write
from feedsvc.breaker import Breaker
from feedsvc.errors import Unavailable
from feedsvc.feedstate import State, StateReader

log = logging.getLogger(__name__)
T = TypeVar("T")

# When (time.monotonic) the current request's or job's database waits must end; None: no deadline.
_DEADLINE: ContextVar[float | None] = ContextVar("feedsvc_db_deadline", default=None)


class DeadlineExceeded(Exception):
    """The database did not answer before the caller's deadline."""


class Unreachable(Exception):
    """The database cannot be used now (down, hung, or its breaker is open)."""


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Every database wait inside ends after ``seconds`` (the earlier of this and an outer deadline)."""
    if seconds is None:
        yield
        return
    end = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def set_deadline(seconds: float | None) -> Any:
    """For request hooks: set a deadline and return the token to reset it with."""
    return _DEADLINE.set(None if seconds is None else time.monotonic() + seconds)


def reset_deadline(token: Any) -> None:
    with contextlib.suppress(ValueError):  # a token of another context: nothing to reset
        _DEADLINE.reset(token)


def _deadline_connection_class() -> type:
    import psycopg
    from psycopg import errors

    class DeadlineConnection(psycopg.Connection):  # type: ignore[type-arg]
        """A psycopg connection whose every wait for the server ends at the caller's deadline."""

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            end = _DEADLINE.get()
            if end is not None:
                left = max(0.001, end - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
            try:
                return super().wait(gen, interval=interval, timeout=timeout)
            except errors._WaitTimeout:  # type: ignore[attr-defined]
                # Mid-protocol: the connection's state is unknown, so it is closed, never reused.
                self.pgconn.finish()
                raise psycopg.OperationalError("the database did not answer in time") from None

    return DeadlineConnection


def make_engine(url: str, config: dict[str, Any] | None = None, **kwargs: Any) -> Engine:
    config = config or {}
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
    statement_ms = int(1000 * float(config.get("DB_STATEMENT_TIMEOUT", 5.0)))
    connect_s = max(1, round(float(config.get("DB_CONNECT_TIMEOUT", 2.0))))
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=max(1.0, statement_ms / 1000),
        connect_args={"connect_timeout": connect_s, "options": f"-c statement_timeout={statement_ms}"},
        **kwargs,
    )
    connection_class = _deadline_connection_class()

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        return connection_class.connect(*cargs, **cparams)

    @event.listens_for(engine, "handle_error")
    def _timeouts_disconnect(context: Any) -> None:
        # A connection closed at its deadline is gone: the pool must drop it, not hand it out again.
        if "did not answer in time" in str(context.original_exception):
            context.is_disconnect = True

    return engine


def is_outage(error: BaseException) -> bool:
    """Does this error say the database is down or not answering (rather than a bad statement)?"""
    if isinstance(error, DeadlineExceeded | Unreachable | exc.TimeoutError):
        return True
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, exc.OperationalError | exc.InterfaceError):
        return not write.retryable(error)
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


class Database:
    """The service's view of the database: sessions, the poll path's reader, and the breaker."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session], config: dict[str, Any]) -> None:
        self.engine = engine
        self.factory = factory
        self.reader = StateReader(engine)
        self.sqlite = engine.dialect.name == "sqlite"
        self.poll_timeout = float(config["DB_POLL_TIMEOUT"])
        self.statement_timeout = float(config["DB_STATEMENT_TIMEOUT"])
        self.retry_after_s = int(config["DB_RETRY_AFTER"])
        self.breaker = Breaker("database", float(config["DB_BREAKER_SECONDS"]))
        self._probing = threading.Lock()

    # The breaker, and the probe that closes it.
    def available(self) -> bool:
        """False while the breaker is open; then a background probe (one at a time) checks."""
        if not self.breaker.is_open:
            return True
        if self.breaker.allow():
            threading.Thread(target=self._probe, name="feedsvc-db-probe", daemon=True).start()
        return False

    def _probe(self) -> None:
        try:
            with deadline(max(self.statement_timeout, 3.0)):
                self.reader.read("*", retry=False)
        except Exception as error:
            self.breaker.failure(type(error).__name__)
            return
        self.breaker.success()

    def failed(self, error: BaseException) -> None:
        self.breaker.failure(type(error).__name__)

    def retry_after(self) -> int:
        return max(self.retry_after_s, self.breaker.retry_after())

    # The three kinds of work.
    def state(self, scope: str) -> State | None:
        """The poll path: one primary-key read, under the short poll deadline."""
        if not self.available():
            raise Unreachable("database breaker open")
        try:
            with deadline(None if self.sqlite else self.poll_timeout):
                found = self.reader.read(scope)
        except Exception as error:
            if not is_outage(error):
                raise
            self.failed(error)
            raise Unreachable(str(error)) from error
        self.breaker.success()
        return found

    def read(self, work: Callable[[Connection], T]) -> T:
        """A render's reads, under the statement deadline."""
        return self._guarded(lambda: self._read(work))

    def _read(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return work(conn)

    def write(self, work: Callable[[Session], T]) -> T:
        """A write in a session of its own, committed through the write module (with its retries)."""

        def run() -> T:
            with self.factory() as session:
                return write.run(session, work)

        return self._guarded(run)

    def _guarded(self, job: Callable[[], T]) -> T:
        if not self.available():
            raise Unreachable("database breaker open")
        try:
            with deadline(None if self.sqlite else self.statement_timeout):
                return job()
        except Exception as error:
            if not is_outage(error):
                raise
            self.failed(error)
            raise Unreachable(str(error)) from error


def unavailable(database: Database) -> Unavailable:
    message = "the database is unavailable; nothing was changed, retry later"
    return Unavailable(message, database.retry_after())


def guard_request() -> None:
    """Request hook (API, pages): refuse at once while the database is known to be down, and end
    every database wait of the request at the statement deadline."""
    database = current_app.extensions["feedsvc.database"]
    if not database.available():
        raise unavailable(database)
    if not database.sqlite:
        g.db_deadline = set_deadline(database.statement_timeout)


def end_request_deadline(_exc: BaseException | None) -> None:
    token = g.pop("db_deadline", None)
    if token is not None:
        reset_deadline(token)


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"], app.config)
    factory = sessionmaker(engine, expire_on_commit=False)
    events = write.Events()
    write.install(factory, events)
    app.extensions["feedsvc.engine"] = engine
    app.extensions["feedsvc.sessionmaker"] = factory
    app.extensions["feedsvc.events"] = events
    app.extensions["feedsvc.database"] = Database(engine, factory, app.config)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions["feedsvc.engine"]


def database() -> Database:
    return database_of(current_app)


def database_of(app: Flask) -> Database:
    return app.extensions["feedsvc.database"]


def events() -> write.Events:
    return current_app.extensions["feedsvc.events"]


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
