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
from sqlalchemy import event, text

from feedsvc import create_app
from feedsvc.config import normalize_database_url
from feedsvc.db import make_engine
from feedsvc.migrate import upgrade
from tests.helpers import BASE_URL, Api, StatementCounter, make_token, wipe
from tests.procs import fault_stack, healthy_stack, private_postgres, private_redis  # noqa: F401


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


@pytest.fixture
def app_factory(backend: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        config = {
            "TESTING": True,
            "BASE_URL": BASE_URL,
            "SITE_NAME": "Tashkent News",
            "LANGUAGES": "en,ru,uz",
            # The shared machine can stall a Redis answer past the production default (50 ms); here
            # a stall must not open the breaker and change what a test sees (the fault tests run
            # the real defaults under gunicorn).
            "REDIS_TIMEOUT": 1.0,
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


@pytest.fixture
def count_sql(app: Flask) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    engine = app.extensions["feedsvc.engine"]
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)
