"""The schema is Alembic's from the first table on: upgrade, downgrade and models agree."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from feedsvc.config import normalize_database_url
from feedsvc.migrate import alembic_config

SCHEMA = "feedsvc_migrations_test"


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    url = normalize_database_url(os.environ.get("FEEDSVC_DATABASE_URL", ""))
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    # A schema of its own inside the test database (the run is given that one database only).
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{SCHEMA}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


def test_upgrade_downgrade_and_models_agree(empty_database: str) -> None:
    cfg = alembic_config(empty_database)
    command.upgrade(cfg, "head")
    command.check(cfg)  # raises if the models and the migrated schema differ
    engine = create_engine(empty_database)
    tables = set(inspect(engine).get_table_names())
    assert {
        "posts",
        "categories",
        "post_categories",
        "feed_states",
        "api_tokens",
        "sources",
        "source_items",
        "post_enclosures",
    } <= tables
    command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    engine.dispose()
