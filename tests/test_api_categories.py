"""Categories: names per language, reserved slugs, deletion keeps posts."""

from __future__ import annotations

from tests.helpers import Api


def test_category_crud(api: Api) -> None:
    created = api.post("/api/categories", {"slug": "economy", "names": {"en": "Economy", "ru": "Экономика"}})
    assert created.status_code == 201
    assert created.headers["Location"].endswith("/api/categories/economy")
    assert api.get("/api/categories").get_json() == [
        {"slug": "economy", "names": {"en": "Economy", "ru": "Экономика"}, "posts": 0}
    ]
    renamed = api.patch("/api/categories/economy", {"names": {"uz": "Iqtisodiyot"}}).get_json()
    assert renamed["names"] == {"en": "Economy", "ru": "Экономика", "uz": "Iqtisodiyot"}
    assert api.delete("/api/categories/economy").status_code == 204
    assert api.get("/api/categories/economy").status_code == 404


def test_category_errors(api: Api) -> None:
    assert api.post("/api/categories", {"slug": "sport", "names": {"en": "Sport"}}).status_code == 201
    dup = api.post("/api/categories", {"slug": "sport", "names": {"en": "Sport"}})
    assert dup.status_code == 409 and "slug" in dup.get_json()["error"]["fields"]
    reserved = api.post("/api/categories", {"slug": "posts", "names": {"en": "Posts"}})
    assert reserved.status_code == 422 and "slug" in reserved.get_json()["error"]["fields"]
    bad_lang = api.post("/api/categories", {"slug": "arts", "names": {"fr": "Arts"}})
    assert bad_lang.status_code == 422 and "fr" in bad_lang.get_json()["error"]["message"]
    bad_slug = api.post("/api/categories", {"slug": "Bad Slug", "names": {"en": "x"}})
    assert bad_slug.status_code == 422 and "slug" in bad_slug.get_json()["error"]["fields"]
    empty = api.post("/api/categories", {"slug": "arts", "names": {}})
    assert empty.status_code == 422 and "names" in empty.get_json()["error"]["fields"]


def test_deleting_category_keeps_posts(api: Api) -> None:
    api.post("/api/categories", {"slug": "events", "names": {"en": "Events"}})
    api.post("/api/categories", {"slug": "society", "names": {"en": "Society"}})
    post = api.post(
        "/api/posts", {"title": "t", "content": "c", "language": "en", "categories": ["events", "society"]}
    ).get_json()
    assert api.delete("/api/categories/events").status_code == 204
    assert api.get(f"/api/posts/{post['id']}").get_json()["categories"] == ["society"]
