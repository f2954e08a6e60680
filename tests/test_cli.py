"""The real ``feedsvc`` console script and its commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from feedsvc import db
from feedsvc.models import ApiToken, Category, Post, PostCategory


def run_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "feedsvc"
    return subprocess.run(
        [str(exe), *args],
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_init_db_demo_and_token_from_scratch(tmp_path: Path) -> None:
    env = {"FEEDSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}", "FEEDSVC_CACHE_URL": "simple"}
    init = run_cli(tmp_path, "init-db", env=env)
    assert init.returncode == 0, init.stderr
    assert "database ready" in init.stdout
    again = run_cli(tmp_path, "init-db", env=env)  # idempotent
    assert again.returncode == 0, again.stderr
    demo = run_cli(tmp_path, "demo", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "loaded 15 posts" in demo.stdout
    skipped = run_cli(tmp_path, "demo", "--if-empty", env=env)
    assert "not loaded" in skipped.stdout
    token = run_cli(tmp_path, "tokens", "create", "editor", env=env)
    assert token.returncode == 0 and token.stdout.strip().startswith("fs_")
    dup = run_cli(tmp_path, "tokens", "create", "editor", env=env)
    assert dup.returncode != 0 and "exists already" in dup.stderr
    bad = run_cli(tmp_path, "demo", "--posts", "-3", env=env)
    assert bad.returncode == 2 and "--posts" in bad.stderr


@pytest.mark.slow
def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "init-db", env={"FEEDSVC_TIMEZONE": "Mars/Olympus"})
    assert result.returncode != 0
    assert "FEEDSVC_TIMEZONE" in result.stderr


def test_token_stored_as_hash(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["tokens", "create", "ops", "--right", "read"])
    token = result.output.strip()
    with app.app_context():
        row = db.session().scalar(select(ApiToken).where(ApiToken.name == "ops"))
        assert row is not None and row.rights == ["read"]
        assert token not in row.token_hash and len(row.token_hash) == 64


def test_demo_synthetic_bulk(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--posts", "3000"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        s = db.session()
        assert s.scalar(select(func.count()).select_from(Post)) == 3000
        assert s.scalar(select(func.count()).select_from(PostCategory)) == 3000
        assert s.scalar(select(func.count()).select_from(Category)) == 6
        langs = dict(s.execute(select(Post.language, func.count()).group_by(Post.language)).all())
        assert langs == {"en": 1000, "ru": 1000, "uz": 1000}
        combos = s.execute(select(PostCategory.language, PostCategory.category_id).distinct()).all()
        assert len(combos) == 3 * 6  # every language in every category
    client = app.test_client()
    assert len(client.get("/uz/feed.json").get_json()["items"]) == 50
    # Rows inserted with explicit ids leave the id sequence usable.
    from tests.helpers import Api, make_token

    api = Api(client, make_token(app))
    assert (
        api.post("/api/posts", {"title": "After bulk", "content": "x", "language": "en"}).status_code == 201
    )
