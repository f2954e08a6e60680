"""``feedsvc status``: what an operator needs to see first, in one screen.

The database and cache in use (passwords masked), the migration state, the workers' heartbeats,
sources due and failing, the hub outbox, and how the front is kept fresh. Exits 1 when the database
cannot be reached or migrations are pending: nothing else can be trusted then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import Engine, and_, func, or_, select, text
from sqlalchemy.orm import Session

from feedsvc import db, heartbeat
from feedsvc.models import Source, WebSubOutbox, WebSubPing, WebSubSubscription, utcnow

FAILING_SHOWN = 10  # failing sources listed by name; the rest are counted
ERROR_CHARS = 160


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # each makes the exit code 1

    def add(self, line: str) -> None:
        self.lines.append(line)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _short(error: str | None) -> str:
    text_ = " ".join((error or "").split())
    return text_ if len(text_) <= ERROR_CHARS else text_[: ERROR_CHARS - 1] + "…"


def _database(report: Report, engine: Engine) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from feedsvc.migrate import alembic_config

    report.add(f"database    {engine.url.render_as_string(hide_password=True)} ({engine.dialect.name})")
    heads = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_heads()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = MigrationContext.configure(conn).get_current_heads()
    except Exception as exc:  # any failure means "unreachable"; the line says which
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        report.add(f"            UNREACHABLE: {_short(first)}")
        report.problems.append("database unreachable")
        return False
    state = "up to date" if set(current) == set(heads) else "PENDING: run `feedsvc init-db`"
    now_at = ", ".join(current) or "none (empty database)"
    report.add(f"migrations  current {now_at}, head {', '.join(heads)}: {state}")
    if set(current) != set(heads):
        report.problems.append("migrations pending")
    return True


def _cache(report: Report, url: str) -> None:
    line = f"cache       {mask_url(url)}"
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        try:
            redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0).ping()
            line += " (reachable)"
        except Exception as exc:  # feeds still flow without it; say why
            line += f" (UNREACHABLE: {_short(str(exc))}; feeds fall back to each process's own copies)"
    elif url == "simple":
        line += " (in-process: each process renders and keeps its own copies)"
    report.add(line)


def _workers(report: Report, s: Session, now: datetime) -> None:
    beats = heartbeat.recent(s)
    if not beats:
        report.add("workers     none heard from in 24 h: is `feedsvc worker` running?")
        return
    report.add("workers")
    for b in beats:
        age = b.age(now)
        flag = "  STALE" if age > heartbeat.STALE else ""
        report.add(
            f"  {b.kind:<7} {b.name.split(':', 1)[1]:<40} last pass {_ago(age)}, {b.passes} passes{flag}"
        )


def _sources(report: Report, s: Session, now: datetime) -> None:
    enabled = Source.enabled.is_(True)
    total, on = s.execute(select(func.count(), func.count().filter(enabled)).select_from(Source)).one()
    due = s.scalar(
        select(func.count())
        .select_from(Source)
        .where(or_(Source.fetch_requested_at.is_not(None), and_(enabled, Source.next_fetch_at <= now)))
    )
    failing = list(
        s.execute(
            select(Source.id, Source.url, Source.consecutive_errors, Source.last_error, Source.last_fetch_at)
            .where(enabled, Source.consecutive_errors > 0)
            .order_by(Source.consecutive_errors.desc(), Source.id)
        )
    )
    disabled = list(
        s.execute(select(Source.id, Source.url, Source.disabled_reason).where(Source.enabled.is_(False)))
    )
    report.add(
        f"sources     {total} ({on} enabled): {due} due now, {len(failing)} failing, {len(disabled)} disabled"
    )
    for row in failing[:FAILING_SHOWN]:
        report.add(
            f"  failing   {row.id} {row.url}: {row.consecutive_errors} in a row: {_short(row.last_error)}"
        )
    if len(failing) > FAILING_SHOWN:
        report.add(f"  … and {len(failing) - FAILING_SHOWN} more failing (`feedsvc sources list`)")
    for row in disabled[:FAILING_SHOWN]:
        report.add(f"  disabled  {row.id} {row.url}: {_short(row.disabled_reason)}")


def _outbox(report: Report, s: Session, now: datetime) -> None:
    scopes, oldest = s.execute(select(func.count(), func.min(WebSubOutbox.first_at))).one()
    pending_ping = or_(WebSubPing.covered_at.is_(None), WebSubPing.changed_at > WebSubPing.covered_at)
    pings = dict(
        s.execute(select(WebSubPing.kind, func.count()).where(pending_ping).group_by(WebSubPing.kind)).all()
    )
    failing_pings = s.scalar(
        select(func.count()).select_from(WebSubPing).where(pending_ping, WebSubPing.failures > 0)
    )
    deliveries = s.scalar(
        select(func.count())
        .select_from(WebSubSubscription)
        .where(
            WebSubSubscription.state == "active",
            WebSubSubscription.changed_at.is_not(None),
            or_(
                WebSubSubscription.covered_at.is_(None),
                WebSubSubscription.changed_at > WebSubSubscription.covered_at,
            ),
        )
    )
    age = f", oldest {_ago((now - oldest).total_seconds())}" if oldest else ""
    report.add(
        f"hub outbox  {scopes} changed scope(s) waiting{age}; pending: {pings.get('purge', 0)} purge(s), "
        f"{pings.get('hub', 0)} hub ping(s), {deliveries} delivery(ies); "
        f"{failing_pings} retrying after failures"
    )
    last_error = s.execute(
        select(WebSubPing.kind, WebSubPing.target, WebSubPing.last_error)
        .where(pending_ping, WebSubPing.failures > 0)
        .order_by(WebSubPing.last_attempt_at.desc())
        .limit(1)
    ).first()
    if last_error:
        report.add(f"  last failure: {last_error.kind} {last_error.target}: {_short(last_error.last_error)}")


def _front(report: Report, config: Any) -> None:
    url = config.get("PURGE_URL") or ""
    if url:
        report.add(f"front       {config.get('PURGE_METHOD')} {mask_url(url)} after every change")
    else:
        report.add(
            "front       no FEEDSVC_PURGE_URL: caches in front are not told of changes "
            "(nginx keeps each copy up to 5 s)"
        )


def build(app: Flask) -> Report:
    report = Report()
    engine: Engine = app.extensions["feedsvc.engine"]
    reachable = _database(report, engine)
    _cache(report, app.config["CACHE_URL"])
    _front(report, app.config)
    if not reachable:
        report.add("workers, sources, hub outbox: unknown (no database)")
        return report
    now = utcnow()
    try:
        with db.new_session() as s:
            _workers(report, s, now)
            _sources(report, s, now)
            _outbox(report, s, now)
    except Exception as exc:  # e.g. tables missing before the first init-db
        if "migrations pending" in report.problems:
            report.add("workers, sources, hub outbox: unknown until the migrations are applied")
        else:
            report.add(f"workers, sources, hub outbox: unreadable ({_short(str(exc))})")
    return report


@click.command("status")
@with_appcontext
def status_command() -> None:
    """What runs where: database, cache, migrations, workers, sources, hub outbox, front purges.
    Exits 1 when the database is unreachable or migrations are pending."""
    report = build(current_app._get_current_object())  # type: ignore[attr-defined]
    for line in report.lines:
        click.echo(line)
    if report.problems:
        click.echo(f"status: {'; '.join(report.problems)}", err=True)
        click.get_current_context().exit(1)
    click.echo("status: ok")
