"""The ``feedsvc`` command: a Flask CLI group (``feedsvc run`` is Flask's own server)."""

from __future__ import annotations

import sys
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from feedsvc import db


def _create_app() -> Flask:
    from feedsvc import create_app

    return create_app()


cli = FlaskGroup(create_app=_create_app, help="feedsvc: feeds for a multilingual news portal.")


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
    type=click.Choice(["posts", "categories", "sources", "read"]),
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


def init_app(app: Flask) -> None:
    for command in (init_db, tokens, demo):
        app.cli.add_command(command)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(cli())


__all__ = ["cli", "current_app"]
