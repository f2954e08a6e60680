"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from feedsvc.models import Base

BASE_URL = "https://news.example.uz"


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


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


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)


def fetch_now(api: Api, source_id: int) -> dict[str, Any]:
    """Fetch-now as an operator sees it: the API queues it, one worker pass fetches, the API reports
    the result (with the source's state under "source")."""
    from feedsvc.ingest.service import worker
    from feedsvc.ingest.service.settings import ingest_settings

    queued = api.post(f"/api/sources/{source_id}/fetch")
    assert queued.status_code == 202, queued.get_json()
    with api.client.application.app_context():
        # batch=1: the requested source comes first, so exactly it is fetched.
        worker.run(ingest_settings(), batch=1, max_passes=1, idle_sleep=0)
    status = api.get(queued.headers["Location"])
    assert status.status_code == 200 and status.get_json()["state"] == "done", status.get_json()
    return {**status.get_json()["result"], "source": status.get_json()["source"]}


def start_post_ids_at(database_url: str, first: int) -> None:
    """Make the next posts' ids start at ``first`` (``feedsvc demo --posts`` continues from the largest
    id): one hidden, long-past post with id ``first - 1``, through the write path."""
    from datetime import timedelta

    from feedsvc import create_app, db, write
    from feedsvc.models import Post, utcnow

    app = create_app({"DATABASE_URL": database_url, "CACHE_URL": "null"})
    try:
        with app.app_context(), db.new_session() as session:
            now = utcnow()
            post = Post(
                id=first - 1,
                uid=f"00000000-0000-4000-8000-{first - 1:012d}",
                language="en",
                slug=f"ids-from-{first}",
                title="Post ids start here",
                summary="",
                content="",
                published_at=now - timedelta(days=3650),
                updated_at=now,
                created_at=now,
                visible=False,
            )
            write.add_post(session, post, [])
            session.commit()
    finally:
        app.extensions["feedsvc.engine"].dispose()
