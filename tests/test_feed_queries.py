"""Feed cost does not grow with the archive: a fixed number of statements, none of them on a 304."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from feedsvc import db
from feedsvc.demo import load_synthetic
from feedsvc.site import site
from tests.helpers import Api, StatementCounter


def fill(app: Flask, n: int) -> None:
    with app.app_context(), db.new_session() as s:
        load_synthetic(s, site(), n)
        s.commit()


def render_statements(client: FlaskClient, count_sql: StatementCounter, path: str) -> list[str]:
    count_sql.statements.clear()
    assert client.get(path).status_code == 200
    return list(count_sql.statements)


def test_statement_count_is_fixed(
    app: Flask, client: FlaskClient, api: Api, count_sql: StatementCounter
) -> None:
    fill(app, 30)
    # Translations and several categories are the N+1 traps; give some posts both.
    en = api.post(
        "/api/posts", {"title": "A", "content": "x", "language": "en", "categories": ["events", "economy"]}
    )
    api.post(
        "/api/posts",
        {
            "title": "Б",
            "content": "x",
            "language": "ru",
            "categories": ["events"],
            "translation_of": en.get_json()["id"],
        },
    )
    counts = {}
    for limit in (5, 50, 200):
        for path in ("/feed.atom", "/ru/feed.rss", "/ru/events/feed.json"):
            statements = render_statements(client, count_sql, f"{path}?limit={limit}")
            counts[(path, limit)] = len(statements)
            assert len(statements) <= 6, statements
    for path in ("/feed.atom", "/ru/feed.rss", "/ru/events/feed.json"):
        assert counts[(path, 5)] == counts[(path, 200)]


def test_cached_and_304_polls_read_no_posts(
    app: Flask, client: FlaskClient, count_sql: StatementCounter, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    fill(app, 20)
    first = client.get("/ru/events/feed.atom")
    reader = app.extensions["feedsvc.database"].reader
    reads: list[str] = []
    real_read = reader.read
    monkeypatch.setattr(reader, "read", lambda scope: reads.append(scope) or real_read(scope))
    count_sql.statements.clear()
    assert client.get("/ru/events/feed.atom").status_code == 200
    response = client.get("/ru/events/feed.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert response.status_code == 304
    # One primary-key read of the feed's version each; no statement through the ORM, no posts read.
    assert reads == ["ru/events", "ru/events"]
    assert count_sql.statements == []


def test_304_renders_nothing(app_factory, count_sql: StatementCounter) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(CACHE_URL="null")
    fill(app, 5)
    client = app.test_client()
    etag = client.get("/ru/feed.rss").headers["ETag"]
    from feedsvc import feeds

    calls = []
    original = feeds.FORMATS["rss"].render
    feeds.FORMATS["rss"].render = lambda feed, entries=None: calls.append(feed) or original(feed, entries)  # type: ignore[method-assign]
    try:
        assert client.get("/ru/feed.rss", headers={"If-None-Match": etag}).status_code == 304
        assert calls == []
        assert client.get("/ru/feed.rss").status_code == 200
        assert len(calls) == 1  # no cache: every 200 renders
    finally:
        del feeds.FORMATS["rss"].render


def test_queries_use_indexes(app: Flask) -> None:
    """The feed queries walk an index newest first instead of sorting the table."""
    fill(app, 50)
    with app.app_context():
        engine = db.engine()
        if engine.dialect.name != "sqlite":
            return  # PostgreSQL's planner prefers a seq scan on tiny tables; the bench shows it at scale
        from sqlalchemy import text

        with engine.connect() as conn:
            for sql in (
                "SELECT id FROM posts WHERE visible = 1 ORDER BY published_at DESC, id DESC LIMIT 50",
                "SELECT id FROM posts WHERE visible = 1 AND language = 'ru' "
                "ORDER BY published_at DESC, id DESC LIMIT 50",
                "SELECT post_id FROM post_categories WHERE category_id = 1 AND language = 'ru' "
                "AND visible = 1 ORDER BY published_at DESC, post_id DESC LIMIT 50",
            ):
                plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
                assert "USING" in plan and "INDEX" in plan, plan
                assert "TEMP B-TREE" not in plan, plan


def test_state_reader_survives_a_dropped_connection(app: Flask, client: FlaskClient) -> None:
    fill(app, 3)
    assert client.get("/ru/feed.rss").status_code == 200
    reader = app.extensions["feedsvc.database"].reader
    conn = reader._local.conn
    if reader.sqlite:
        conn.close()
    else:  # the server ends the session, as on a restart
        with app.app_context(), db.engine().connect() as admin:
            from sqlalchemy import text

            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": conn.info.backend_pid})
            admin.commit()
    assert client.get("/ru/feed.rss").status_code == 200
    assert reader._local.conn is not conn
