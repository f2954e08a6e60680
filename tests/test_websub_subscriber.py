"""WebSub subscriber: a partner feed names a hub; we subscribe, the hub verifies our intent on the
callback and delivers signed content, which is stored at once and re-emitted in our feeds.

The hub is written here: a handler on a real HTTP server on 127.0.0.1 that, like a real hub,
verifies intent by calling our callback (through the app's test client) before it answers 202,
and later delivers content signed with the secret it was given."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request
from werkzeug import Response as WResponse

from feedsvc import db
from feedsvc.ingest.service import push
from feedsvc.ingest.service.settings import ingest_settings
from feedsvc.models import Post, Source
from tests.helpers import BASE_URL, Api, fetch_now

QUALITY = Path(__file__).parent / "fixtures" / "partners" / "quality"
ATOM = "application/atom+xml; charset=utf-8"


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory(ALLOW_PRIVATE_SOURCES=True, FETCH_TIMEOUT=3.0, SOURCE_MAX_INTERVAL=6 * 3600)


class Hub:
    """A WebSub hub for one topic: verifies each (un)subscription on the subscriber's callback."""

    def __init__(self, client: FlaskClient, lease: int = 3600) -> None:
        self.client, self.lease = client, lease
        self.requests: list[dict[str, str]] = []
        self.verifications: list[tuple[str, int, str]] = []  # (mode, status, body)

    def path(self, callback: str) -> str:
        assert callback.startswith(BASE_URL)
        return callback[len(BASE_URL) :]

    def __call__(self, request: Request) -> WResponse:
        form = dict(request.form)
        self.requests.append(form)
        challenge = secrets.token_hex(8)
        answer = self.client.get(
            self.path(form["hub.callback"]),
            query_string={
                "hub.mode": form["hub.mode"],
                "hub.topic": form["hub.topic"],
                "hub.challenge": challenge,
                "hub.lease_seconds": str(self.lease),
            },
        )
        body = answer.get_data(as_text=True)
        self.verifications.append((form["hub.mode"], answer.status_code, body))
        if answer.status_code != 200 or body != challenge:
            return WResponse("verification failed", status=409)
        return WResponse("", status=202)

    def deliver(self, body: bytes, *, secret: str | None = None, method: str = "sha256") -> Any:
        form = self.requests[-1]
        headers = {"Content-Type": ATOM}
        if secret is not None:
            digest = hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()
            headers["X-Hub-Signature"] = f"{method}={digest}"
        return self.client.post(self.path(form["hub.callback"]), data=body, headers=headers)


def feed_body(httpserver: HTTPServer, name: str = "hub_atom.xml") -> bytes:
    text = (QUALITY / name).read_text(encoding="utf-8")
    text = text.replace("{HUB}", httpserver.url_for("/hub")).replace("{SELF}", httpserver.url_for("/feed"))
    return text.encode()


def source_row(app: Flask, source_id: int) -> Source | None:
    with app.app_context():
        source = db.session().get(Source, source_id)
        if source is not None:
            db.session().expunge(source)
        return source


def titles(app: Flask, source_id: int) -> list[str]:
    with app.app_context():
        query = select(Post.title).where(Post.source_id == source_id).order_by(Post.id)
        return list(db.session().scalars(query))


def create(api: Api, url: str) -> int:
    response = api.post("/api/sources", {"url": url, "language": "uz"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def subscribed(api: Api, client: FlaskClient, httpserver: HTTPServer, app: Flask) -> tuple[Hub, int]:
    hub = Hub(client)
    httpserver.expect_request("/hub", method="POST").respond_with_handler(hub)
    httpserver.expect_request("/feed").respond_with_data(feed_body(httpserver), content_type=ATOM)
    response = api.post("/api/sources", {"url": httpserver.url_for("/feed"), "language": "uz"})
    assert response.status_code == 201
    source_id = response.get_json()["id"]
    result = fetch_now(api, source_id)
    assert result["new"] == 1
    return hub, source_id


def test_subscribes_verifies_and_polls_slowly(subscribed: tuple[Hub, int], api: Api, app: Flask) -> None:
    hub, source_id = subscribed
    (request,) = hub.requests
    assert request["hub.mode"] == "subscribe"
    assert request["hub.topic"].endswith("/feed")
    callback = urlsplit(request["hub.callback"])
    assert f"{callback.scheme}://{callback.netloc}" == BASE_URL
    assert callback.path.startswith(f"/websub/callback/{source_id}/")
    assert len(callback.path.rsplit("/", 1)[1]) >= 24  # an unguessable token
    assert len(request["hub.secret"]) >= 32 and int(request["hub.lease_seconds"]) > 0
    assert hub.verifications == [("subscribe", 200, hub.verifications[0][2])]
    source = source_row(app, source_id)
    assert source is not None and source.push_state == "active"
    assert source.push_lease_until is not None
    assert abs((source.push_lease_until - datetime.now(UTC)).total_seconds() - 3600) < 60
    shown = api.get(f"/api/sources/{source_id}").get_json()["push"]
    assert shown["state"] == "active" and shown["hub_url"].endswith("/hub")
    # Polling goes on as a safety net, at the longest interval (the next fetch sees the state).
    fetch_now(api, source_id)
    source = source_row(app, source_id)
    assert source is not None and source.last_fetch_at is not None
    assert (source.next_fetch_at - source.last_fetch_at).total_seconds() >= 6 * 3600 * 0.9
    assert len(hub.requests) == 1  # no new subscription while one is active


def test_verification_is_refused_unless_it_matches(subscribed: tuple[Hub, int], client: FlaskClient) -> None:
    hub, source_id = subscribed
    path = hub.path(hub.requests[0]["hub.callback"])
    good = {"hub.mode": "subscribe", "hub.topic": hub.requests[0]["hub.topic"], "hub.challenge": "c1"}
    assert client.get(path, query_string=good).get_data(as_text=True) == "c1"
    elsewhere = {**good, "hub.topic": "https://elsewhere.example/"}
    assert client.get(path, query_string=elsewhere).status_code == 404
    assert client.get(path.rsplit("/", 1)[0] + "/wrong-token", query_string=good).status_code == 404
    assert client.get(f"/websub/callback/{source_id + 99}/x", query_string=good).status_code == 404
    # Nobody asked to unsubscribe.
    assert client.get(path, query_string={**good, "hub.mode": "unsubscribe"}).status_code == 404


def test_signed_delivery_is_stored_at_once_and_reemitted(
    subscribed: tuple[Hub, int], client: FlaskClient, httpserver: HTTPServer, app: Flask
) -> None:
    hub, source_id = subscribed
    secret = hub.requests[0]["hub.secret"]
    response = hub.deliver(feed_body(httpserver, "hub_pushed.xml"), secret=secret)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert titles(app, source_id) == ["Birinchi xabar", "Ikkinchi xabar"]
    items = client.get("/uz/feed.json").get_json()["items"]
    assert "Ikkinchi xabar" in [item["title"] for item in items]
    # sha1 signatures are accepted too (older hubs).
    body = feed_body(httpserver, "hub_pushed.xml").replace(b"Yangi matn", b"Yangi matn 2")
    assert hub.deliver(body, secret=secret, method="sha1").status_code == 200


def test_unsigned_or_badly_signed_delivery_stores_nothing(
    subscribed: tuple[Hub, int], httpserver: HTTPServer, app: Flask
) -> None:
    hub, source_id = subscribed
    body = feed_body(httpserver, "hub_pushed.xml")
    assert hub.deliver(body).status_code == 202  # acknowledged, as the spec asks, and ignored
    assert hub.deliver(body, secret="not-the-secret").status_code == 202
    assert titles(app, source_id) == ["Birinchi xabar"]


def test_oversized_delivery_refused(app_factory: Any, httpserver: HTTPServer) -> None:
    from tests.helpers import make_token

    app = app_factory(ALLOW_PRIVATE_SOURCES=True, FETCH_MAX_BYTES=2048)
    client = app.test_client()
    api = Api(client, make_token(app))
    hub = Hub(client)
    httpserver.expect_request("/hub", method="POST").respond_with_handler(hub)
    httpserver.expect_request("/feed").respond_with_data(feed_body(httpserver), content_type=ATOM)
    source_id = create(api, httpserver.url_for("/feed"))
    fetch_now(api, source_id)
    big = feed_body(httpserver, "hub_pushed.xml").replace(b"Yangi matn", b"x" * 4096)
    assert hub.deliver(big, secret=hub.requests[0]["hub.secret"]).status_code == 413
    assert titles(app, source_id) == ["Birinchi xabar"]


def test_lease_renewed_before_it_ends(subscribed: tuple[Hub, int], app: Flask) -> None:
    hub, source_id = subscribed
    with app.app_context():
        session = db.session()
        assert push.renew_due(session, ingest_settings()) == 0  # the whole hour is left
        source = session.get(Source, source_id)
        assert source is not None
        # An hour's lease with five minutes left.
        source.push_verified_at = datetime.now(UTC) - timedelta(minutes=55)
        source.push_lease_until = datetime.now(UTC) + timedelta(minutes=5)
        session.commit()
        assert push.renew_due(session, ingest_settings()) == 1
    assert [r["hub.mode"] for r in hub.requests] == ["subscribe", "subscribe"]
    renewed = source_row(app, source_id)
    assert renewed is not None and renewed.push_state == "active"
    assert renewed.push_lease_until is not None
    assert renewed.push_lease_until > datetime.now(UTC) + timedelta(minutes=50)


def test_unsubscribes_when_disabled_or_deleted(subscribed: tuple[Hub, int], api: Api, app: Flask) -> None:
    hub, source_id = subscribed
    assert api.patch(f"/api/sources/{source_id}", {"enabled": False}).status_code == 200
    assert hub.requests[-1]["hub.mode"] == "unsubscribe"
    assert hub.verifications[-1][:2] == ("unsubscribe", 200)
    source = source_row(app, source_id)
    assert source is not None and source.push_state is None
    # Re-enabled and fetched: subscribed again; deleted: unsubscribed before the row goes.
    api.patch(f"/api/sources/{source_id}", {"enabled": True})
    fetch_now(api, source_id)
    assert hub.requests[-1]["hub.mode"] == "subscribe"
    assert api.delete(f"/api/sources/{source_id}").status_code == 204
    assert hub.requests[-1]["hub.mode"] == "unsubscribe" and hub.verifications[-1][:2] == ("unsubscribe", 200)
    assert source_row(app, source_id) is None


def test_hub_from_http_link_headers(
    api: Api, client: FlaskClient, httpserver: HTTPServer, app: Flask
) -> None:
    hub = Hub(client)
    httpserver.expect_request("/hub", method="POST").respond_with_handler(hub)
    body = (QUALITY / "rhythm.xml").read_bytes()
    links = f'<{httpserver.url_for("/hub")}>; rel="hub", <{httpserver.url_for("/topic")}>; rel="self"'
    httpserver.expect_request("/rss").respond_with_data(
        body, content_type="application/rss+xml", headers={"Link": links}
    )
    source_id = create(api, httpserver.url_for("/rss"))
    fetch_now(api, source_id)
    assert hub.requests[0]["hub.topic"] == httpserver.url_for("/topic")
    source = source_row(app, source_id)
    assert source is not None and source.push_state == "active"


def test_a_hub_that_refuses_is_recorded_and_retried_later(
    api: Api, httpserver: HTTPServer, app: Flask
) -> None:
    httpserver.expect_request("/hub", method="POST").respond_with_data("no", status=500)
    httpserver.expect_request("/feed").respond_with_data(feed_body(httpserver), content_type=ATOM)
    source_id = create(api, httpserver.url_for("/feed"))
    result = fetch_now(api, source_id)
    assert result["outcome"] == "new"  # the fetch itself is fine
    source = source_row(app, source_id)
    assert source is not None and source.push_state == "failed" and "HTTP 500" in (source.last_warning or "")
    assert source.push_lease_until is not None and source.push_lease_until > datetime.now(UTC)
