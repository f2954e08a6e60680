"""Bad input: every error is a 4xx with the same JSON shape, naming the field, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import Api, make_token

GOOD = {"title": "T", "content": "<p>c</p>", "language": "en", "categories": ["events"]}


def assert_error(response: Any, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert set(error) <= {"status", "code", "message", "fields"}
    assert error["status"] == status and error["code"] and error["message"]
    if field is not None:
        assert field in error["fields"], error
    return error


def post_count(api: Api) -> int:
    return len(api.get("/api/posts?limit=200").get_json()["items"])


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({**GOOD, "colour": "red"}, "colour", "Unknown field"),
        ({k: v for k, v in GOOD.items() if k != "title"}, "title", "Missing"),
        ({k: v for k, v in GOOD.items() if k != "language"}, "language", "Missing"),
        ({**GOOD, "language": "fr"}, "language", "unknown language"),
        ({**GOOD, "categories": ["nosuch"]}, "categories", "unknown category"),
        ({**GOOD, "published_at": "yesterday"}, "published_at", ""),
        ({**GOOD, "published_at": "2026-11-20T10:00:00"}, "published_at", ""),  # no offset
        ({**GOOD, "url": "javascript:alert(1)"}, "url", ""),
        ({**GOOD, "image_url": "ftp://x/y.png"}, "image_url", ""),
        ({**GOOD, "title": ""}, "title", ""),
        ({**GOOD, "title": 5}, "title", ""),
        ({**GOOD, "translation_of": 999999}, "translation_of", "does not exist"),
        ({**GOOD, "slug": "Not A Slug"}, "slug", ""),
    ],
)
def test_bad_post_bodies(api: Api, categories: list[str], body: dict, field: str, words: str) -> None:
    error = assert_error(api.post("/api/posts", body), 422, field)
    assert words in str(error["fields"][field]) or words in error["message"]
    assert post_count(api) == 0


def test_malformed_json(api: Api, categories: list[str]) -> None:
    response = api.client.post(
        "/api/posts", data="{not json", headers={**api.headers, "Content-Type": "application/json"}
    )
    assert_error(response, 400)
    assert post_count(api) == 0


def test_not_json(api: Api) -> None:
    response = api.client.post(
        "/api/posts", data="title=x", headers={**api.headers, "Content-Type": "text/plain"}
    )
    assert_error(response, 415)


def test_json_not_an_object(api: Api) -> None:
    assert_error(api.post("/api/posts", [1, 2]), 422)


def test_oversized_body(app_factory: Any) -> None:
    app: Flask = app_factory(MAX_CONTENT_LENGTH=2048)
    api = Api(app.test_client(), make_token(app))
    response = api.post("/api/posts", {**GOOD, "content": "x" * 5000})
    error = assert_error(response, 413)
    assert "large" in error["message"].lower()


def test_bad_patch_writes_nothing(api: Api, categories: list[str]) -> None:
    post = api.post("/api/posts", GOOD).get_json()
    assert_error(
        api.patch(f"/api/posts/{post['id']}", {"title": "New", "categories": ["nope"]}), 422, "categories"
    )
    assert api.get(f"/api/posts/{post['id']}").get_json()["title"] == "T"
    assert_error(api.patch(f"/api/posts/{post['id']}", {"published_at": None}), 422, "published_at")
    assert_error(api.patch("/api/posts/424242", {"title": "x"}), 404)


def test_auth(app: Flask, client: FlaskClient) -> None:
    assert_error(client.get("/api/posts"), 401)
    assert_error(client.get("/api/posts", headers={"Authorization": "Bearer nope"}), 401)
    assert_error(client.get("/api/posts", headers={"Authorization": "Basic abc"}), 401)
    reader = make_token(app, "reader", ["read"])
    headers = {"Authorization": f"Bearer {reader}"}
    assert client.get("/api/posts", headers=headers).status_code == 200
    assert_error(client.post("/api/posts", json=GOOD, headers=headers), 403)
    cats_only = make_token(app, "cats", ["categories"])
    assert_error(client.get("/api/posts", headers={"Authorization": f"Bearer {cats_only}"}), 403)


def test_revoked_token(app: Flask, client: FlaskClient) -> None:
    token = make_token(app, "temp")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["tokens", "revoke", "temp"]).exit_code == 0
    assert_error(client.get("/api/posts", headers={"Authorization": f"Bearer {token}"}), 401)


def test_unknown_route_and_method(api: Api) -> None:
    assert_error(api.get("/api/posts/abc"), 404)
    assert_error(api.get("/api/nothing/at/all"), 404)
    assert_error(api.client.put("/api/posts", json={}, headers=api.headers), 405)
