"""The ``feedsvc`` command: a Flask CLI group (``feedsvc run`` is Flask's own server)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, ScriptInfo, with_appcontext

from feedsvc import db, envfile
from feedsvc.config import ConfigError, env_value

# Where deploy/ puts the units' environment; a command run without it would quietly use a SQLite file.
SYSTEM_ENV_FILE = Path("/etc/feedsvc/feedsvc.env")


def _create_app() -> Flask:
    from feedsvc import create_app

    try:
        return create_app()
    except ConfigError as exc:  # a clear message and exit 1, not a traceback
        raise click.ClickException(str(exc)) from None


def no_env_file_warning(environ: Mapping[str, str], system_file: Path) -> str | None:
    """The warning for a command run on a server without its env file, else None."""
    if env_value("DATABASE_URL", environ) or not system_file.exists():
        return None
    return (
        f"warning: no FEEDSVC_DATABASE_URL and no env file, although {system_file} exists: this "
        f"command uses the SQLite file under instance/, not the service's database; pass "
        f"--env-file {system_file} (or set FEEDSVC_ENV_FILE)"
    )


def _load_env_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value:
        try:
            loaded = envfile.load(value)
        except envfile.EnvFileError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        metrics_dir = loaded.get("PROMETHEUS_MULTIPROC_DIR")
        if metrics_dir and not os.path.isdir(metrics_dir):
            # The units create it while they run; a command run meanwhile keeps its metrics to itself.
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    else:
        warning = no_env_file_warning(os.environ, SYSTEM_ENV_FILE)
        if warning:
            click.echo(warning, err=True)
    return value


class FeedsvcGroup(FlaskGroup):
    """Flask's group with our env file option in place of Flask's ``-e`` (python-dotenv's format,
    which differs from the units' ``EnvironmentFile``: one format for both, and no .env picked up
    from the working directory)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(load_dotenv=False, **kwargs)
        option = click.Option(
            ["-e", "--env-file"],
            envvar="FEEDSVC_ENV_FILE",
            show_envvar=True,
            type=click.Path(dir_okay=False),
            is_eager=True,
            expose_value=False,
            callback=_load_env_file,
            help="Read settings from FILE, in the format of systemd's EnvironmentFile (the units' "
            "/etc/feedsvc/feedsvc.env); variables set already win.",
        )
        self.params = [option if p.name == "env_file" else p for p in self.params]

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Flask prints a traceback when the app fails to load for --help; a bad setting is a message.
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except click.ClickException as exc:
            click.secho(f"Error: {exc.format_message()}\n", err=True, fg="red")
            return click.Group.list_commands(self, ctx)
        return super().list_commands(ctx)


cli = FeedsvcGroup(create_app=_create_app, help="feedsvc: feeds for a multilingual news portal.")


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from feedsvc.migrate import upgrade

    upgrade(db.engine())
    click.echo(f"database ready: {db.engine().url.render_as_string(hide_password=True)}")


tokens = AppGroup("tokens", help="API tokens.")


@tokens.command("create")
@click.argument("name")
@click.option(
    "--right",
    "rights",
    multiple=True,
    type=click.Choice(["posts", "categories", "sources", "read", "metrics"]),
    help="Repeat for several; default: posts, categories and sources.",
)
def tokens_create(name: str, rights: tuple[str, ...]) -> None:
    """Create a token; it is printed once, only its hash is stored."""
    from sqlalchemy import select

    from feedsvc.api.auth import create_token
    from feedsvc.models import ApiToken

    with db.new_session() as s:
        if s.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
            raise click.ClickException(f"a token named {name!r} exists already")
        token = create_token(s, name, list(rights) or ["posts", "categories", "sources"])
        s.commit()
    click.echo(token)


@tokens.command("list")
def tokens_list() -> None:
    from sqlalchemy import select

    from feedsvc.models import ApiToken

    with db.new_session() as s:
        for t in s.scalars(select(ApiToken).order_by(ApiToken.name)):
            state = "revoked" if t.revoked else "active"
            click.echo(f"{t.name}\t{','.join(t.rights)}\t{state}\t{t.created_at:%Y-%m-%d %H:%M}")


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    from sqlalchemy import update

    from feedsvc.models import ApiToken

    with db.new_session() as s:
        done = s.execute(update(ApiToken).where(ApiToken.name == name).values(revoked=True)).rowcount
        s.commit()
    if not done:
        raise click.ClickException(f"no token named {name!r}")
    click.echo(f"revoked {name}")


@click.command("demo")
@with_appcontext
@click.option(
    "--posts",
    "count",
    type=click.IntRange(min=0, max=10_000_000),
    default=None,
    help="Load N synthetic posts (bulk) instead of the hand-written demo.",
)
@click.option("--if-empty", is_flag=True, help="Do nothing when posts exist already.")
def demo(count: int | None, if_empty: bool) -> None:
    """Load demo categories and posts in every configured language."""
    from feedsvc import demo as demo_module
    from feedsvc.site import site

    with db.new_session() as s:
        if if_empty and demo_module.has_posts(s):
            click.echo("posts exist already; demo not loaded")
            return
        started = time.monotonic()
        if count is None:
            n = demo_module.load_demo(s, site())
        else:
            n = demo_module.load_synthetic(s, site(), count, progress=lambda m: click.echo(m, err=True))
        s.commit()
    click.echo(f"loaded {n} posts in {time.monotonic() - started:.1f} s")


sources = AppGroup("sources", help="Partner feeds.")


@sources.command("add")
@click.argument("url")
@click.option("--language", required=True, help="Language of the partner's items, e.g. ru.")
@click.option("--category", default=None, help="Our category slug for its items.")
@click.option("--name", default=None)
@click.option(
    "--interval", "interval_s", type=click.IntRange(min=1), default=None, help="Seconds between fetches."
)
@click.option("--timezone", default=None, help="Zone for partner dates without one (default UTC).")
@click.option("--store-only", is_flag=True, help="Store items without re-syndicating them in our feeds.")
def sources_add(
    url: str,
    language: str,
    category: str | None,
    name: str | None,
    interval_s: int | None,
    timezone: str | None,
    store_only: bool,
) -> None:
    """Register a partner feed."""
    from feedsvc.errors import ServiceError
    from feedsvc.ingest.service.settings import ingest_settings
    from feedsvc.ingest.service.sources import create_source
    from feedsvc.site import site

    data = {
        "url": url,
        "language": language,
        "category": category,
        "name": name,
        "interval_s": interval_s,
        "timezone": timezone,
        "syndicate": not store_only,
    }
    with db.new_session() as s:
        try:
            source = create_source(s, site(), ingest_settings(), data)
        except ServiceError as exc:
            raise click.ClickException(f"{exc.field}: {exc.message}" if exc.field else exc.message) from exc
        s.commit()
        click.echo(f"source {source.id}: {source.url} ({source.language})")


@sources.command("list")
def sources_list() -> None:
    from sqlalchemy import select

    from feedsvc.models import Source

    with db.new_session() as s:
        for src in s.scalars(select(Source).order_by(Source.id)):
            state = "enabled" if src.enabled else f"disabled: {src.disabled_reason}"
            last = src.last_outcome or "never fetched"
            click.echo(
                f"{src.id}\t{src.language}\t{src.url}\t{last}\terrors {src.consecutive_errors}\t{state}"
            )


@click.command("ingest")
@click.option("--due", "mode", flag_value="due", default=True, help="Sources whose time has come (default).")
@click.option("--all", "mode", flag_value="all", help="Every enabled source, due or not.")
@click.argument("ids", nargs=-1, type=int)
@with_appcontext
def ingest(mode: str, ids: tuple[int, ...]) -> None:
    """One pass over partner feeds, then exit; a line per source."""
    from sqlalchemy import select

    from feedsvc.ingest.service import claims
    from feedsvc.ingest.service.run import ingest_source
    from feedsvc.ingest.service.settings import ingest_settings
    from feedsvc.ingest.service.worker import worker_name
    from feedsvc.models import Source, utcnow

    settings, owner = ingest_settings(), worker_name()
    failed = 0
    with db.new_session() as s:
        if ids:
            known = set(s.scalars(select(Source.id).where(Source.id.in_(ids))))
            missing = [i for i in ids if i not in known]
            if missing:
                raise click.ClickException(f"no source {', '.join(map(str, missing))}")
            todo, claimed = list(ids), False
        elif mode == "all":
            todo, claimed = (
                list(s.scalars(select(Source.id).where(Source.enabled.is_(True)).order_by(Source.id))),
                False,
            )
        else:
            # Claimed one at a time when fetched: holding every lease at once would stop other workers
            # from fetching any of those hosts meanwhile (politeness counts live leases).
            todo, claimed = claims.due_ids(s, utcnow(), limit=10_000), False
        s.commit()
        for source_id in todo:
            result = ingest_source(s, source_id, owner, settings, claimed=claimed)
            failed += result.outcome in {"error", "gone"}
            click.echo(result.line())
    click.echo(f"{len(todo)} source(s), {failed} failed")


@click.command("worker")
@click.option(
    "--idle-sleep", type=click.FloatRange(min=0.05), default=5.0, help="Seconds to wait when nothing is due."
)
@click.option("--batch", type=click.IntRange(min=1, max=100), default=5, help="Sources claimed at a time.")
@click.option("--passes", type=click.IntRange(min=1), default=None, help="Stop after N claim rounds (tests).")
@click.option("--websub/--no-websub", default=True, help="Also run WebSub and purge work in a thread.")
@with_appcontext
def worker(idle_sleep: float, batch: int, passes: int | None, websub: bool) -> None:
    """Fetch due partner feeds until SIGTERM/SIGINT (the source in hand is finished first); beside it,
    send WebSub verifications, deliveries, hub pings and cache purges."""
    from feedsvc.ingest.service import worker as worker_module
    from feedsvc.ingest.service.settings import ingest_settings

    stop = worker_module.Stop()
    stop.install()
    name = worker_module.worker_name()
    click.echo(f"{name} started", err=True)
    if websub:
        from feedsvc.websub import work

        # A thread of its own: a partner fetch may take its whole timeout, a delivery must not wait.
        work.start_thread(current_app._get_current_object(), stop.event)  # type: ignore[attr-defined]
    try:
        n = worker_module.run(
            ingest_settings(),
            owner=name,
            idle_sleep=idle_sleep,
            batch=batch,
            stop=stop,
            report=lambda r: click.echo(r.line()),
            max_passes=passes,
        )
    except KeyboardInterrupt:
        click.echo(f"{name} interrupted; the source in hand was rolled back", err=True)
        sys.exit(130)
    click.echo(f"{name} stopped after {n} fetch(es)", err=True)


@click.command("websub-worker")
@click.option("--interval", type=click.FloatRange(min=0.01), default=0.2, help="Seconds between idle passes.")
@with_appcontext
def websub_worker(interval: float) -> None:
    """Only the WebSub and purge work (verifications, deliveries, pings, purges) until SIGTERM/SIGINT."""
    from feedsvc.ingest.service.worker import Stop
    from feedsvc.websub import work

    stop = Stop()
    stop.install()
    click.echo("websub worker started", err=True)
    try:
        work.run(current_app._get_current_object(), stop.event, interval)  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        sys.exit(130)
    click.echo("websub worker stopped", err=True)


def init_app(app: Flask) -> None:
    from feedsvc.status import status_command

    for command in (init_db, tokens, demo, sources, ingest, worker, websub_worker, status_command):
        app.cli.add_command(command)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(cli())


__all__ = ["cli", "current_app"]
