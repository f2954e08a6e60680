"""WebSub publisher and hub, and cache purges, against real local servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from feedsvc import db, write
from feedsvc.models import Post, Source, WebSubOutbox, WebSubSubscription, utcnow
from feedsvc.websub import work
from feedsvc.websub.outbox import notifies
from tests.feedcheck import assert_valid
from tests.helpers import BASE_URL, Api, make_token
from tests.websub_servers import Recorder

TOPIC = f"{BASE_URL}/ru/events/feed.atom"
# Every format of every scope a post in ru/events shows in.
RU_EVENTS_FEEDS = {
    f"{BASE_URL}{path}feed.{fmt}" for path in ("/", "/ru/", "/ru/events/") for fmt in ("rss", "atom", "json")
}
LOCAL = {"FETCH_ALLOW_NETWORKS": ("127.0.0.0/8",)}


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def hub_app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory(**LOCAL, WEBSUB_QUIET=0.2, WEBSUB_RETRY_BASE=0.1)


@pytest.fixture
def hub_api(hub_app: Flask) -> Api:
    api = Api(hub_app.test_client(), make_token(hub_app))
    for slug, names in {"events": {"en": "Events", "ru": "События", "uz": "Voqealar"}}.items():
        assert api.post("/api/categories", {"slug": slug, "names": names}).status_code == 201
    return api


def drain(app: Flask, until: Callable[[], Any] = lambda: False, seconds: float = 3.0) -> work.Pass:
    """Worker passes until ``until()`` holds or ``seconds`` pass; returns their sum."""
    publisher = work.Publisher(app)
    total = work.Pass()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            done = publisher.work_once()
            for name in ("fanned_out", "verified", "pings", "deliveries", "failures"):
                setattr(total, name, getattr(total, name) + getattr(done, name))
            total.details += done.details
            if until():
                break
            time.sleep(0.02)
    finally:
        publisher.close()
    return total


def subscribe(client: FlaskClient, callback: str, topic: str = TOPIC, **extra: str) -> Any:
    return client.post(
        "/websub", data={"hub.callback": callback, "hub.mode": "subscribe", "hub.topic": topic, **extra}
    )


def post(api: Api, title: str, language: str = "ru", categories: list[str] | None = None) -> int:
    r = api.post(
        "/api/posts",
        {
            "title": title,
            "content": "<p>text</p>",
            "language": language,
            "categories": categories or ["events"],
        },
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def sub_row(app: Flask, callback: str) -> WebSubSubscription:
    with app.app_context(), db.new_session() as s:
        return s.scalars(select(WebSubSubscription).where(WebSubSubscription.callback == callback)).one()


# -- the done-when scenario ------------------------------------------------------------------------


@pytest.mark.slow  # waits on real time: quiet periods, leases, due times
def test_subscriber_gets_a_signed_delivery_within_two_seconds_of_a_post(
    app_factory: Callable[..., Flask], recorder: Recorder
) -> None:
    app = app_factory(**LOCAL)  # the default quiet period (1 s) and worker interval
    api = Api(app.test_client(), make_token(app))
    assert api.post("/api/categories", {"slug": "events", "names": {"ru": "События"}}).status_code == 201
    callback = recorder.url("/callback/1?token=abc")
    r = subscribe(api.client, callback, **{"hub.secret": "s3cret", "hub.lease_seconds": "3600"})
    assert r.status_code == 202, r.get_data(as_text=True)
    assert recorder.requests() == []  # verification is the worker's, never the request's

    stop = threading.Event()
    thread = work.start_thread(app, stop, interval=0.05)
    try:
        check = recorder.wait_for(lambda: recorder.requests("GET"))
        assert check, "no verification request"
        query = check[0].query
        assert query["hub.mode"] == ["subscribe"] and query["hub.topic"] == [TOPIC]
        assert query["hub.lease_seconds"] == ["3600"] and query["token"] == ["abc"]
        assert recorder.wait_for(lambda: sub_row(app, callback).state == "active")

        started = time.monotonic()
        post(api, "Навруз в Ташкенте")
        deliveries = recorder.wait_for(lambda: recorder.requests("POST"), timeout=2.0)
        assert deliveries, "no delivery within 2 s"
        delivery = deliveries[0]
        assert delivery.at - started < 2.0
    finally:
        stop.set()
        thread.join(10)

    assert delivery.path == "/callback/1" and delivery.query == {"token": ["abc"]}
    assert delivery.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    expected = hmac.new(b"s3cret", delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Hub-Signature"] == f"sha256={expected}"
    assert delivery.headers["Link"] == f'<{BASE_URL}/websub>; rel="hub", <{TOPIC}>; rel="self"'
    assert "Навруз в Ташкенте" in delivery.body.decode()
    assert_valid("atom", delivery.body, self_url=TOPIC, hubs=[f"{BASE_URL}/websub"])
    assert len(recorder.requests("POST")) == 1  # one post, one delivery

    listing = Api(app.test_client(), make_token(app, "reader", ["read"])).get(
        "/api/websub/subscriptions", query_string={"topic": TOPIC}
    )
    assert listing.status_code == 200
    [entry] = listing.get_json()
    assert entry["callback"] == callback and entry["state"] == "active"
    assert entry["last_status"] == 204 and entry["consecutive_failures"] == 0
    assert entry["last_delivery_at"] and entry["expires_at"] and not entry["delivery_pending"]


@pytest.mark.slow  # waits on real time: quiet periods, leases, due times
def test_nothing_after_unsubscribing(hub_app: Flask, hub_api: Api, recorder: Recorder) -> None:
    callback = recorder.url("/cb")
    assert subscribe(hub_api.client, callback).status_code == 202
    drain(hub_app, lambda: sub_row(hub_app, callback).state == "active")
    r = hub_api.client.post(
        "/websub", data={"hub.callback": callback, "hub.mode": "unsubscribe", "hub.topic": TOPIC}
    )
    assert r.status_code == 202
    drain(hub_app, lambda: sub_row(hub_app, callback).state == "unsubscribed")
    modes = [g.query["hub.mode"][0] for g in recorder.requests("GET")]
    assert modes == ["subscribe", "unsubscribe"]
    assert "hub.lease_seconds" not in recorder.requests("GET")[1].query
    post(hub_api, "after unsubscribing")
    drain(hub_app, seconds=1.0)
    assert recorder.requests("POST") == []


@pytest.mark.slow  # waits on real time: quiet periods, leases, due times
def test_nothing_after_the_lease_expired(app_factory: Callable[..., Flask], recorder: Recorder) -> None:
    app = app_factory(**LOCAL, WEBSUB_QUIET=0.1, WEBSUB_LEASE_MIN=1, WEBSUB_LEASE_DEFAULT=1)
    api = Api(app.test_client(), make_token(app))
    assert api.post("/api/categories", {"slug": "events", "names": {"ru": "События"}}).status_code == 201
    callback = recorder.url("/short")
    assert subscribe(api.client, callback, **{"hub.lease_seconds": "1"}).status_code == 202
    drain(app, lambda: sub_row(app, callback).state == "active")
    time.sleep(1.1)
    post(api, "too late")
    drain(app, seconds=1.0)
    assert recorder.requests("POST") == []
    assert sub_row(app, callback).state == "expired"


def test_unconfirmed_subscription_is_not_activated(hub_app: Flask, hub_api: Api, recorder: Recorder) -> None:
    recorder.confirm = False
    callback = recorder.url("/no")
    assert subscribe(hub_api.client, callback).status_code == 202
    drain(hub_app, lambda: sub_row(hub_app, callback).state != "pending")
    assert sub_row(hub_app, callback).state == "denied"
    post(hub_api, "nobody listens")
    drain(hub_app, seconds=0.6)
    assert recorder.requests("POST") == []


def test_private_callbacks_are_refused_unless_allowed(
    app_factory: Callable[..., Flask], recorder: Recorder
) -> None:
    app = app_factory(WEBSUB_QUIET=0.1)  # no FETCH_ALLOW_NETWORKS: 127.0.0.1 is not public
    api = Api(app.test_client(), make_token(app))
    api.post("/api/categories", {"slug": "events", "names": {"ru": "События"}})
    callback = recorder.url("/private")
    assert subscribe(api.client, callback).status_code == 202
    drain(app, lambda: sub_row(app, callback).state != "pending")
    row = sub_row(app, callback)
    assert row.state == "denied" and "loopback" in (row.last_error or "")
    assert recorder.requests() == []


def test_failing_callback_backs_off_and_is_dropped(
    app_factory: Callable[..., Flask], recorder: Recorder
) -> None:
    app = app_factory(**LOCAL, WEBSUB_QUIET=0.1, WEBSUB_RETRY_BASE=0.05, WEBSUB_MAX_FAILURES=3)
    api = Api(app.test_client(), make_token(app))
    api.post("/api/categories", {"slug": "events", "names": {"ru": "События"}})
    callback = recorder.url("/broken")
    subscribe(api.client, callback)
    drain(app, lambda: sub_row(app, callback).state == "active")
    recorder.post_status = 500
    post(api, "undeliverable")
    drain(app, lambda: sub_row(app, callback).state == "failed", seconds=5)
    row = sub_row(app, callback)
    assert row.state == "failed" and row.failures == 3 and row.last_status == 500
    assert len(recorder.requests("POST")) == 3


# -- the hub's endpoint ----------------------------------------------------------------------------


def test_subscription_requests_are_checked(hub_app: Flask, hub_api: Api) -> None:
    client = hub_api.client
    cb = "http://127.0.0.1:9/cb"

    def problem(response: Any) -> str:
        assert response.status_code == 400, response.get_data(as_text=True)
        return response.get_json()["error"]["message"]

    assert "hub.topic" in problem(subscribe(client, cb, topic="https://elsewhere.example/feed.atom"))
    assert "not a feed" in problem(subscribe(client, cb, topic=f"{BASE_URL}/ru/posts/x"))
    assert "category" in problem(subscribe(client, cb, topic=f"{BASE_URL}/ru/nope/feed.atom"))
    assert "limit" in problem(subscribe(client, cb, topic=f"{BASE_URL}/feed.rss?limit=0"))
    assert "only limit" in problem(subscribe(client, cb, topic=f"{BASE_URL}/feed.rss?x=1"))
    assert "hub.callback" in problem(subscribe(client, "ftp://x/cb"))
    assert "hub.secret" in problem(subscribe(client, cb, **{"hub.secret": "x" * 200}))
    assert "hub.mode" in problem(
        client.post("/websub", data={"hub.callback": cb, "hub.mode": "publish", "hub.topic": TOPIC})
    )
    # Any of our feed URLs, ?limit= included; leases are clamped to the configured bounds.
    assert subscribe(client, cb, topic=f"{BASE_URL}/feed.json?limit=5").status_code == 202
    assert subscribe(client, cb, **{"hub.lease_seconds": "5"}).status_code == 202
    assert subscribe(client, cb + "2", **{"hub.lease_seconds": "99999999"}).status_code == 202
    with hub_app.app_context(), db.new_session() as s:
        leases = {r.callback: r.pending_lease for r in s.scalars(select(WebSubSubscription))}
    assert leases == {cb: 300, cb + "2": 864000}


def test_subscription_requests_are_rate_limited(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(WEBSUB_RATE_LIMIT=3)
    client = app.test_client()
    codes = [
        subscribe(client, f"http://203.0.113.7/cb/{n}", topic=f"{BASE_URL}/feed.rss").status_code
        for n in range(4)
    ]
    assert codes == [202, 202, 202, 429]
    refused = subscribe(client, "http://203.0.113.7/cb/x", topic=f"{BASE_URL}/feed.rss")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 61
    assert "callback host" in refused.get_json()["error"]["message"]
    # Another callback host from the same client address is counted by address.
    other = subscribe(client, "http://198.51.100.9/cb", topic=f"{BASE_URL}/feed.rss")
    assert other.status_code == 429 and "client address" in other.get_json()["error"]["message"]


def test_hub_can_be_switched_off(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(WEBSUB_HUB=False, WEBSUB_HUBS=("https://hub.example/",))
    client = app.test_client()
    assert subscribe(client, "http://203.0.113.7/cb").status_code in {404, 405}
    response = client.get("/feed.atom")
    assert (
        response.headers["Link"] == f'<https://hub.example/>; rel="hub", <{BASE_URL}/feed.atom>; rel="self"'
    )
    assert_valid("atom", response.data, self_url=f"{BASE_URL}/feed.atom", hubs=["https://hub.example/"])


# -- external hubs ---------------------------------------------------------------------------------


@pytest.mark.slow  # waits on real time: quiet periods, leases, due times
def test_external_hub_gets_one_ping_per_feed_per_burst_and_after_an_outage(
    app_factory: Callable[..., Flask], recorder: Recorder
) -> None:
    hub_url = recorder.url("/hub")
    app = app_factory(WEBSUB_HUBS=(hub_url,), WEBSUB_QUIET=0.3, WEBSUB_RETRY_BASE=0.1)
    api = Api(app.test_client(), make_token(app))
    api.post("/api/categories", {"slug": "events", "names": {"ru": "События"}})
    # The new category's three feeds are announced first.
    drain(app, lambda: len(recorder.requests("POST")) >= 9, seconds=3)
    recorder.received.clear()

    for n in range(5):
        post(api, f"burst {n}")
    drain(app, lambda: len(recorder.requests("POST")) >= len(RU_EVENTS_FEEDS), seconds=3)
    drain(app, seconds=0.6)  # nothing more may come
    pings = recorder.requests("POST", "/hub")
    forms = [p.form() for p in pings]
    assert all(f["hub.mode"] == ["publish"] and f["hub.url"] == f["hub.topic"] for f in forms)
    urls = sorted(f["hub.url"][0] for f in forms)
    assert urls == sorted(RU_EVENTS_FEEDS)  # exactly one per affected feed URL

    # The hub is down while a change is committed: the ping waits, and arrives once it is back.
    port = recorder.port
    recorder.close()
    post(api, "while the hub is down")
    failed = drain(app, lambda: False, seconds=0.8)
    assert failed.failures >= len(RU_EVENTS_FEEDS) and failed.pings == 0
    back = Recorder(port)
    try:
        drain(app, lambda: len(back.requests("POST")) >= len(RU_EVENTS_FEEDS), seconds=5)
        urls = sorted(p.form()["hub.url"][0] for p in back.requests("POST", "/hub"))
        assert urls == sorted(RU_EVENTS_FEEDS)
        listing = api.get("/api/websub/pings").get_json()
        assert {p["topic"] for p in listing} >= RU_EVENTS_FEEDS  # and the category's feeds
        assert all(p["consecutive_failures"] == 0 and not p["pending"] for p in listing)
    finally:
        back.close()


def test_a_change_survives_a_process_that_died_before_sending(
    hub_app: Flask, hub_api: Api, recorder: Recorder
) -> None:
    """The outbox row commits with the change: a worker started later still finds it."""
    post(hub_api, "written, then the process died")
    with hub_app.app_context(), db.new_session() as s:
        assert {"*", "ru", "ru/events"} <= {r.scope for r in s.scalars(select(WebSubOutbox))}
    app = hub_api.client.application
    callback = recorder.url("/late")
    subscribe(hub_api.client, callback)
    drain(app, lambda: recorder.requests("POST"), seconds=3)
    assert recorder.requests("POST")  # the subscription became active before the fan-out


# -- which changes notify --------------------------------------------------------------------------


def _partner_post(app: Flask, aggregate: bool) -> int:
    with app.app_context(), db.new_session() as s:
        source = Source(
            url=f"https://partner.example/{aggregate}.rss",
            name="Partner",
            host="partner.example",
            language="ru",
            interval_s=900,
            next_fetch_at=utcnow(),
            aggregate=aggregate,
            category_map={},
        )
        s.add(source)
        s.flush()
        now = utcnow()
        row = {
            "uid": f"00000000-0000-0000-0000-00000000000{int(aggregate)}",
            "language": "ru",
            "slug": f"partner-{aggregate}",
            "title": "Partner item",
            "summary": "s",
            "content": "<p>c</p>",
            "published_at": now,
            "updated_at": now,
            "created_at": now,
            "visible": True,
            "aggregate": aggregate,  # as the store takes it from the source
            "source_id": source.id,
            "image_length": 0,
        }
        [post_id] = write.insert_posts(s, [row], [[]])
        s.commit()
        return post_id


def test_partner_items_notify_only_when_their_source_aggregates(
    app_factory: Callable[..., Flask], recorder: Recorder
) -> None:
    hub_url = recorder.url("/hub")
    app = app_factory(WEBSUB_HUBS=(hub_url,), PURGE_URL=recorder.url("/purge{path}"), WEBSUB_QUIET=0.1)
    quiet = _partner_post(app, aggregate=False)
    with app.app_context(), db.new_session() as s:
        assert [r.notify for r in s.scalars(select(WebSubOutbox))] == [False, False]
        assert notifies(s, [quiet]) is False
        assert notifies(s, []) is True  # a change without posts (a renamed category)
        assert notifies(s, [quiet, 10**9]) is True  # a deleted post
    drain(app, lambda: len(recorder.requests("PURGE")) >= 6, seconds=2)
    assert recorder.requests("POST") == []  # no publish pings ...
    assert {r.path for r in recorder.requests("PURGE")} == {
        f"/purge{p}feed.{f}" for p in ("/", "/ru/") for f in ("rss", "atom", "json")
    }  # ... but purges

    loud = _partner_post(app, aggregate=True)
    with app.app_context(), db.new_session() as s:
        assert notifies(s, [loud]) and notifies(s, [quiet, loud])
        own = s.scalar(select(Post.id).where(Post.source_id.is_(None)))
        assert own is None or notifies(s, [own])
    drain(app, lambda: len(recorder.requests("POST")) >= 6, seconds=2)
    assert len(recorder.requests("POST", "/hub")) == 6


# -- caches in front -------------------------------------------------------------------------------


def test_purge_hook_names_the_changed_scopes(app_factory: Callable[..., Flask], recorder: Recorder) -> None:
    app = app_factory(PURGE_URL=recorder.url("/purge{path}"), PURGE_METHOD="BAN", WEBSUB_QUIET=0.1)
    api = Api(app.test_client(), make_token(app))
    api.post("/api/categories", {"slug": "events", "names": {"ru": "События"}})
    # The new category's feeds: at once after the commit, then again from the outbox.
    drain(app, lambda: len(recorder.requests("BAN")) >= 18, seconds=3)
    recorder.received.clear()
    started = time.monotonic()
    post(api, "purge me")
    assert time.monotonic() - started < 1.0  # the write never waits for the cache
    drain(app, lambda: len(recorder.requests("BAN")) >= 18, seconds=3)
    purges = recorder.requests("BAN")
    expected = {f"/purge{p}feed.{f}" for p in ("/", "/ru/", "/ru/events/") for f in ("rss", "atom", "json")}
    assert sorted(p.path for p in purges) == sorted([*expected, *expected])  # immediate, then durable
    keys = {p.path: p.headers["xkey"] for p in purges}
    assert keys["/purge/ru/events/feed.rss"] == "scope:ru/events"
    assert keys["/purge/feed.json"] == "scope:all"
    assert all(p.headers["Surrogate-Key"] == p.headers["xkey"] for p in purges)


def test_feed_headers_for_caches_and_hubs(
    app_factory: Callable[..., Flask],
) -> None:
    app = app_factory(
        FEED_STALE_WHILE_REVALIDATE=30, FEED_STALE_IF_ERROR=600, WEBSUB_HUBS=("https://h.example/",)
    )
    api = Api(app.test_client(), make_token(app))
    api.post("/api/categories", {"slug": "events", "names": {"ru": "События"}})
    ids = [post(api, f"p{n}") for n in range(3)]
    client = app.test_client()
    first = client.get("/ru/events/feed.rss?limit=2")
    assert first.status_code == 200
    assert (
        first.headers["Cache-Control"] == "public, max-age=300, stale-while-revalidate=30, stale-if-error=600"
    )
    assert first.headers["Link"] == (
        f'<{BASE_URL}/websub>; rel="hub", <https://h.example/>; rel="hub", '
        f'<{BASE_URL}/ru/events/feed.rss?limit=2>; rel="self"'
    )
    newest = sorted(ids)[-2:]
    assert first.headers["Surrogate-Key"] == "scope:ru/events " + " ".join(
        f"post:{i}" for i in reversed(newest)
    )
    assert first.headers["xkey"] == first.headers["Surrogate-Key"]
    again = client.get("/ru/events/feed.rss?limit=2", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    for name in ("Link", "Surrogate-Key", "xkey", "Cache-Control"):
        assert again.headers[name] == first.headers[name]
    assert_valid(
        "rss",
        first.data,
        self_url=f"{BASE_URL}/ru/events/feed.rss?limit=2",
        hubs=[f"{BASE_URL}/websub", "https://h.example/"],
    )
    assert "Link" not in client.get("/feeds.opml").headers


def _deliveries_within_two_seconds(
    app: Flask, recorder: Recorder, api: Api, cause: Callable[[], float], text: str
) -> None:
    """Subscribe through our hub, then ``cause()`` a change (it returns when the change counts as
    made): a signed delivery showing ``text`` must arrive within 2 s of it."""
    callback = recorder.url("/callback/due")
    assert subscribe(api.client, callback, **{"hub.secret": "k"}).status_code == 202
    stop = threading.Event()
    thread = work.start_thread(app, stop, interval=0.05)
    try:
        assert recorder.wait_for(lambda: sub_row(app, callback).state == "active")
        started = cause()

        def showing() -> list[Any]:
            return [r for r in recorder.requests("POST") if text.encode() in r.body]

        deliveries = recorder.wait_for(showing, timeout=2.0 + max(0.0, started - time.monotonic()))
        assert deliveries, "no delivery within 2 s"
        assert deliveries[0].at - started < 2.0
        body = deliveries[0].body
        expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
        assert deliveries[0].headers["X-Hub-Signature"] == f"sha256={expected}"
    finally:
        stop.set()
        thread.join(10)


@pytest.mark.slow  # waits on real time: quiet periods, leases, due times
def test_a_scheduled_post_is_delivered_when_it_comes_due(
    hub_app: Flask, hub_api: Api, recorder: Recorder
) -> None:
    from datetime import UTC, datetime, timedelta

    def schedule() -> float:
        due = datetime.now(UTC) + timedelta(seconds=1.5)
        created = hub_api.post(
            "/api/posts",
            {
                "title": "Позже",
                "content": "<p>x</p>",
                "language": "ru",
                "categories": ["events"],
                "published_at": due.isoformat(),
            },
        )
        assert created.status_code == 201 and created.get_json()["status"] == "scheduled"
        return time.monotonic() + (due - datetime.now(UTC)).total_seconds()

    _deliveries_within_two_seconds(hub_app, recorder, hub_api, schedule, "Позже")


def test_scheduling_a_post_notifies_nobody(hub_app: Flask, hub_api: Api) -> None:
    from datetime import UTC, datetime, timedelta

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"title": "Через час", "content": "<p>x</p>", "language": "ru", "published_at": later}
    post_id = hub_api.post("/api/posts", body).get_json()["id"]
    with hub_app.app_context(), db.new_session() as s:
        assert notifies(s, [post_id]) is False  # its feeds show nothing new until it comes due


@pytest.mark.slow  # waits on real time: quiet periods, leases, due times
def test_a_partner_item_for_aggregators_is_delivered(
    hub_app: Flask, hub_api: Api, recorder: Recorder, httpserver: Any
) -> None:
    from tests.helpers import fetch_now

    rss = (
        "<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>P</title>"
        "<link>https://p.example/</link><description>d</description><item><guid>p-1</guid>"
        "<title>Партнёр сообщает</title><link>https://p.example/1</link><description>x</description>"
        "</item></channel></rss>"
    )
    httpserver.expect_request("/p.rss").respond_with_data(rss, content_type="application/rss+xml")
    source = hub_api.post(
        "/api/sources",
        {"url": httpserver.url_for("/p.rss"), "language": "ru", "category": "events", "aggregate": True},
    ).get_json()

    def ingest() -> float:
        assert fetch_now(hub_api, source["id"])["new"] == 1
        return time.monotonic()

    _deliveries_within_two_seconds(hub_app, recorder, hub_api, ingest, "Партнёр сообщает")


def test_a_bulk_load_of_many_posts_is_one_change(app: Flask) -> None:
    """The demo loader's bulk insert of tens of thousands of posts commits as one change, whatever
    the database's limit on statement parameters."""
    from feedsvc.demo import load_synthetic
    from feedsvc.site import site

    with app.app_context(), db.new_session() as s:
        assert load_synthetic(s, site(), 40_000) == 40_000
        s.commit()
        assert notifies(s, list(range(1, 40_001))) is True
