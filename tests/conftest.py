"""Fixtures: a real database and cache (SQLite + in-process by default; PostgreSQL + Redis when the
FEEDSVC_DATABASE_URL / FEEDSVC_CACHE_URL variables name them), the real app and its test client."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, text

from feedsvc import create_app
from feedsvc.config import normalize_database_url
from feedsvc.db import make_engine
from feedsvc.migrate import upgrade
from feedsvc.models import Base

BASE_URL = "https://news.example.uz"


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Database and cache URLs for this run, with the schema migrated once."""
    url = (
        os.environ.get("FEEDSVC_DATABASE_URL")
        or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    )
    url = normalize_database_url(url)
    cache = os.environ.get("FEEDSVC_CACHE_URL") or "simple"
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # start from an empty schema: earlier runs may have left tables
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    engine.dispose()
    if cache.startswith("redis"):
        import redis

        redis.Redis.from_url(cache).flushdb()
    return {"DATABASE_URL": url, "CACHE_URL": cache}


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def app_factory(backend: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        config = {
            "TESTING": True,
            "BASE_URL": BASE_URL,
            "SITE_NAME": "Tashkent News",
            "LANGUAGES": "en,ru,uz",
            **backend,
            **overrides,
        }
        app = create_app(config)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["feedsvc.engine"].dispose()
    if made:
        engine = make_engine(backend["DATABASE_URL"])
        wipe(engine)
        engine.dispose()


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def make_token(app: Flask, name: str = "editor", rights: list[str] | None = None) -> str:
    from feedsvc import db
    from feedsvc.api.auth import create_token

    with app.app_context(), db.new_session() as s:
        token = create_token(s, name, rights or ["posts", "categories", "sources"])
        s.commit()
    return token


class Api:
    """The test client with a bearer token."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(path, json=json, headers=self.headers, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.patch(path, json=json, headers=self.headers, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(path, headers=self.headers, **kw)


@pytest.fixture
def api(app: Flask, client: FlaskClient) -> Api:
    return Api(client, make_token(app))


@pytest.fixture
def categories(api: Api) -> list[str]:
    names = {
        "events": {"en": "Events", "ru": "События", "uz": "Voqealar"},
        "politics": {"en": "Politics", "ru": "Политика", "uz": "Siyosat"},
        "economy": {"en": "Economy", "ru": "Экономика", "uz": "Iqtisodiyot"},
    }
    for slug, n in names.items():
        assert api.post("/api/categories", {"slug": slug, "names": n}).status_code == 201
    return list(names)


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)


@pytest.fixture
def count_sql(app: Flask) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    engine = app.extensions["feedsvc.engine"]
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)
