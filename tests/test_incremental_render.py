"""Renders cost what changed: after a write, only the changed entries are built; the other entries
come from the cache of rendered entries, and the document is byte for byte the one a render from
scratch gives."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from feedsvc.demo import load_synthetic
from tests.helpers import Api


def _fill(app: Flask, count: int) -> None:
    from feedsvc import db
    from feedsvc.site import site

    with app.app_context(), db.new_session() as session:
        load_synthetic(session, site(), count)
        session.commit()


PATHS = ["/feed.rss", "/ru/feed.atom", "/uz/feed.json", "/en/events/feed.rss", "/ru/events/feed.atom"]


@pytest.mark.parametrize("path", PATHS)
def test_render_after_one_write_builds_one_entry(
    app: Flask, api: Api, categories: list[str], path: str
) -> None:
    _fill(app, 150)
    client = app.test_client()
    entries = app.extensions["feedsvc.server"].entries
    assert client.get(path).status_code == 200
    before = entries.built
    language = path.split("/")[1] if path.count("/") > 1 else "ru"
    category = ["events"] if path.count("/") > 2 else []
    created = api.post(
        "/api/posts", {"title": "Новое", "content": "<p>x</p>", "language": language, "categories": category}
    )
    assert created.status_code == 201
    body = client.get(path).get_data(as_text=True)
    assert created.get_json()["guid"] in body
    assert entries.built - before == 1  # the new post; the other 49 came from the entry cache


def test_bytes_identical_with_and_without_the_entry_cache(
    app_factory: Callable[..., Flask], categories: list[str], api: Api
) -> None:
    cached = app_factory()
    scratch = app_factory(CACHE_URL="null")
    assert scratch.extensions["feedsvc.server"].entries is None
    _fill(cached, 120)
    a, b = cached.test_client(), scratch.test_client()
    for step in range(3):
        for path in PATHS:
            assert a.get(path).data == b.get(path).data, (step, path)
        # Edits, a renamed category and a new translation change entries in place.
        if step == 0:
            api.post(
                "/api/posts",
                {"title": "T", "content": "<p>x</p>", "language": "ru", "categories": ["events"]},
            )
        elif step == 1:
            api.patch("/api/categories/events", {"names": {"ru": "Происшествия"}})
