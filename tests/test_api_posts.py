"""The admin API for posts: create, read, list, edit, delete, and what it does to stored text."""

from __future__ import annotations

from tests.helpers import BASE_URL, Api


def new_post(api: Api, **fields: object) -> dict:
    body = {
        "title": "Metro opens",
        "content": "<p>Two new stations opened.</p>",
        "language": "en",
        "categories": ["events"],
        **fields,
    }
    response = api.post("/api/posts", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_returns_post_and_location(api: Api, categories: list[str]) -> None:
    response = api.post(
        "/api/posts",
        {
            "title": "Тошкентда янги метро бекати очилди",
            "content": "<p>Матн</p>",
            "language": "ru",
            "categories": ["events", "politics"],
            "author": "Редакция",
            "published_at": "2026-11-20T10:00:00+05:00",
            "image_url": "https://img.example.uz/a.png",
        },
    )
    assert response.status_code == 201
    post = response.get_json()
    assert response.headers["Location"] == f"{BASE_URL}/api/posts/{post['id']}"
    assert post["slug"] == "toshkentda-iangi-metro-bekati-ochildi"
    assert post["published_at"].startswith("2026-11-20T05:00:00")
    assert post["categories"] == ["events", "politics"]
    assert post["link"] == f"{BASE_URL}/ru/posts/{post['slug']}"
    assert post["image_type"] == "image/png"
    assert post["guid"].startswith("urn:uuid:")
    assert post["summary"] == "Матн"
    assert api.get(f"/api/posts/{post['id']}").get_json() == post


def test_uzbek_apostrophe_letters_survive(api: Api, categories: list[str]) -> None:
    title = "O‘zbekiston g‘alabasi: yangi yo‘l ochildi"
    post = new_post(api, title=title, language="uz", content="<p>Bog‘ va ko‘prik</p>")
    assert post["title"] == title
    assert post["content"] == "<p>Bog‘ va ko‘prik</p>"
    assert post["slug"] == "ozbekiston-galabasi-yangi-yol-ochildi"


def test_slugs_unique_per_language(api: Api, categories: list[str]) -> None:
    a = new_post(api, title="Budget adopted")
    b = new_post(api, title="Budget adopted")
    c = new_post(api, title="Budget adopted", language="ru")
    assert (a["slug"], b["slug"], c["slug"]) == ("budget-adopted", "budget-adopted-2", "budget-adopted")


def test_explicit_duplicate_slug_is_409(api: Api, categories: list[str]) -> None:
    new_post(api, slug="same")
    response = api.post("/api/posts", {"title": "x", "content": "y", "language": "en", "slug": "same"})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["fields"] == {"slug": [error["message"]]} and "same" in error["message"]


def test_active_html_is_refused_by_field(api: Api, categories: list[str]) -> None:
    for content, what in (
        ("<p>Hi<script>alert(1)</script></p>", "<script>"),
        ('<p onclick="steal()">Hi</p>', "onclick"),
        ('<a href="jav&#x09;ascript:alert(1)">x</a>', "javascript:"),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "data:"),
        ('<svg><a xlink:href="javascript:alert(1)">x</a></svg>', "<svg>"),
        ('<iframe src="https://evil.example"></iframe>', "<iframe>"),
    ):
        response = api.post("/api/posts", {"title": "t", "content": content, "language": "en"})
        assert response.status_code == 422, content
        error = response.get_json()["error"]
        assert what in error["fields"]["content"][0], (content, error)
    post = new_post(api)
    patched = api.patch(f"/api/posts/{post['id']}", {"content": "<p><script>x()</script></p>"})
    assert patched.status_code == 422 and "content" in patched.get_json()["error"]["fields"]
    assert api.get("/api/posts?limit=200").get_json()["items"] == [
        api.get(f"/api/posts/{post['id']}").get_json()
    ]


def test_html_reduced_to_allowlist_and_control_characters_stripped(api: Api, categories: list[str]) -> None:
    post = new_post(
        api,
        title="Bad\x0b title\x00",
        content='<p style="color:red">Hi <font color="red">there</font><blink>!</blink>'
        '<img src="https://a.uz/i.png" width="10"><a href="https://a.uz/">link</a>\x1f</p>',
        author="Ed\x07itor",
    )
    assert post["title"] == "Bad title" and post["author"] == "Editor"
    assert post["content"] == (
        '<p>Hi there!<img src="https://a.uz/i.png" width="10">'
        '<a href="https://a.uz/" rel="noopener noreferrer">link</a></p>'
    )


def test_summary_derived_at_word_boundary(api: Api, categories: list[str]) -> None:
    words = " ".join(f"word{i}" for i in range(200))
    post = new_post(api, content=f"<p>{words}</p>")
    assert post["summary"].endswith("…")
    assert len(post["summary"]) <= 280
    assert post["summary"][:-1].split(" ")[-1] in words.split(" ")
    given = new_post(api, title="Other", summary="Short summary.")
    assert given["summary"] == "Short summary."


def test_patch_keeps_guid_and_moves_updated(api: Api, categories: list[str]) -> None:
    post = new_post(api)
    response = api.patch(
        f"/api/posts/{post['id']}", {"title": "Metro opens today", "categories": ["politics"]}
    )
    assert response.status_code == 200
    edited = response.get_json()
    assert edited["guid"] == post["guid"]
    assert edited["title"] == "Metro opens today"
    assert edited["slug"] == post["slug"]
    assert edited["categories"] == ["politics"]
    assert edited["updated_at"] > post["updated_at"]
    assert edited["published_at"] == post["published_at"]


def test_patch_content_rederives_summary_unless_written(api: Api, categories: list[str]) -> None:
    post = new_post(api, content="<p>First text.</p>")
    assert (
        api.patch(f"/api/posts/{post['id']}", {"content": "<p>Second text.</p>"}).get_json()["summary"]
        == "Second text."
    )
    api.patch(f"/api/posts/{post['id']}", {"summary": "Written by hand."})
    again = api.patch(f"/api/posts/{post['id']}", {"content": "<p>Third text.</p>"}).get_json()
    assert again["summary"] == "Written by hand."


def test_translations_link_both_ways(api: Api, categories: list[str]) -> None:
    en = new_post(api)
    ru = new_post(api, title="Метро открылось", language="ru", translation_of=en["id"])
    uz = new_post(api, title="Metro ochildi", language="uz", translation_of=ru["id"])
    en_now = api.get(f"/api/posts/{en['id']}").get_json()
    assert [t["language"] for t in en_now["translations"]] == ["ru", "uz"]
    assert {t["id"] for t in uz["translations"]} == {en["id"], ru["id"]}
    clash = api.post(
        "/api/posts", {"title": "Again", "content": "x", "language": "ru", "translation_of": en["id"]}
    )
    assert clash.status_code == 409
    assert "translation_of" in clash.get_json()["error"]["fields"]


def test_list_filters_and_cursor(api: Api, categories: list[str]) -> None:
    ids = [
        new_post(api, title=f"Post {i}", published_at=f"2026-11-{10 + i:02d}T08:00:00Z")["id"]
        for i in range(5)
    ]
    new_post(api, title="Другое", language="ru", categories=["politics"])
    page = api.get("/api/posts?language=en&limit=2").get_json()
    assert [p["id"] for p in page["items"]] == ids[::-1][:2]
    page2 = api.get(f"/api/posts?language=en&limit=2&cursor={page['next_cursor']}").get_json()
    assert [p["id"] for p in page2["items"]] == ids[::-1][2:4]
    page3 = api.get(f"/api/posts?language=en&limit=2&cursor={page2['next_cursor']}").get_json()
    assert [p["id"] for p in page3["items"]] == ids[:1] and page3["next_cursor"] is None
    politics = api.get("/api/posts?category=politics").get_json()["items"]
    assert [p["language"] for p in politics] == ["ru"]
    assert api.get("/api/posts?cursor=bogus!").status_code == 422
    assert api.get("/api/posts?language=fr").status_code == 422
    assert api.get("/api/posts?category=nope").status_code == 422


def test_delete(api: Api, categories: list[str]) -> None:
    post = new_post(api)
    assert api.delete(f"/api/posts/{post['id']}").status_code == 204
    assert api.get(f"/api/posts/{post['id']}").status_code == 404
    assert api.delete(f"/api/posts/{post['id']}").status_code == 404
