"""/api/sources: partner feeds, their health, fetch-now, and OPML import/export."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from feedsvc import db
from feedsvc.api.auth import require
from feedsvc.api.schemas import (
    FetchStatusOut,
    FetchWaitQuery,
    ImportOut,
    ImportQuery,
    SourceDeleteQuery,
    SourceOut,
    SourcePatch,
    SourceWrite,
)
from feedsvc.errors import InvalidInput
from feedsvc.ingest.service import push
from feedsvc.ingest.service.opml_io import read_opml, write_opml
from feedsvc.ingest.service.settings import ingest_settings
from feedsvc.ingest.service.sources import (
    create_source,
    delete_source,
    get_source,
    source_json,
    update_source,
)
from feedsvc.models import Category, Source, utcnow
from feedsvc.site import site

blp = Blueprint("sources", __name__, url_prefix="/api/sources", description="Partner feeds")
SECURITY = [{"bearerAuth": []}]


@blp.route("")
class Sources(MethodView):
    @blp.doc(security=SECURITY)
    @require("sources")
    @blp.response(200, SourceOut(many=True))
    def get(self) -> list[dict[str, Any]]:
        session = db.session()
        return [source_json(session, s) for s in session.scalars(select(Source).order_by(Source.id))]

    @blp.doc(security=SECURITY)
    @require("sources")
    @blp.arguments(SourceWrite)
    @blp.response(201, SourceOut)
    def post(self, data: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        session, the_site = db.session(), site()
        source = create_source(session, the_site, ingest_settings(), data)
        session.commit()
        return source_json(session, source), 201, {"Location": the_site.url(f"/api/sources/{source.id}")}


@blp.route("/<id:source_id>")
class SourceDetail(MethodView):
    @blp.doc(security=SECURITY)
    @require("sources")
    @blp.response(200, SourceOut)
    def get(self, source_id: int) -> dict[str, Any]:
        session = db.session()
        return source_json(session, get_source(session, source_id))

    @blp.doc(security=SECURITY)
    @require("sources")
    @blp.arguments(SourcePatch)
    @blp.response(200, SourceOut)
    def patch(self, data: dict[str, Any], source_id: int) -> dict[str, Any]:
        session = db.session()
        settings = ingest_settings()
        source = update_source(session, site(), settings, get_source(session, source_id), data)
        session.commit()
        if not source.enabled:
            push.unsubscribe(session, source, settings)  # a disabled source takes no pushes either
        return source_json(session, source)

    @blp.doc(security=SECURITY)
    @require("sources")
    @blp.arguments(SourceDeleteQuery, location="query")
    @blp.response(204)
    def delete(self, args: dict[str, Any], source_id: int) -> None:
        session = db.session()
        source = get_source(session, source_id)
        # Asked before the row goes: the hub may verify the unsubscription while we wait for it.
        push.unsubscribe(session, source, ingest_settings())
        delete_source(session, get_source(session, source_id), purge=args["purge"])
        session.commit()


def fetch_status(session: Any, source: Source) -> dict[str, Any]:
    now = utcnow()
    if source.fetch_requested_at is not None:
        leased = source.lease_until is not None and source.lease_until > now
        state = "running" if leased else "queued"
    else:
        state = "done" if source.last_fetch_at is not None else "never"
    return {
        "source_id": source.id,
        "state": state,
        "requested_at": source.fetch_requested_at,
        "fetched_at": source.last_fetch_at,
        "result": source.last_result,
        "source": source_json(session, source),
    }


def _status_url(source_id: int) -> str:
    return site().url(f"/api/sources/{source_id}/fetch")


def _wait_for_outcome(session: Any, source_id: int, requested_at: datetime, wait_s: float) -> Source:
    """Poll the row until the worker has cleared our request or the deadline passes."""
    deadline = time.monotonic() + wait_s
    pause = 0.05
    while True:
        session.rollback()  # a fresh transaction sees the worker's commit
        source = get_source(session, source_id)
        session.refresh(source)
        if source.fetch_requested_at is None or source.fetch_requested_at > requested_at:
            return source
        left = deadline - time.monotonic()
        if left <= 0:
            return source
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.5)  # quick for a fast partner, gentle on the database after


@blp.route("/<id:source_id>/fetch")
class FetchNow(MethodView):
    @blp.doc(security=SECURITY)
    @require("sources")
    @blp.response(200, FetchStatusOut)
    def get(self, source_id: int) -> dict[str, Any]:
        """Where a fetch-now request stands, and the result of the source's last fetch."""
        session = db.session()
        return fetch_status(session, get_source(session, source_id))

    @blp.doc(security=SECURITY)
    @require("sources")
    @blp.arguments(FetchWaitQuery, location="query")
    @blp.response(202, FetchStatusOut, description="queued; read the outcome at Location")
    @blp.alt_response(200, schema=FetchStatusOut, description="the worker's outcome arrived within ?wait=")
    def post(self, args: dict[str, Any], source_id: int) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Ask the ingestion worker to fetch the source now; the web tier never fetches itself.

        The request is recorded on the source and the worker takes it before anything merely due.
        The answer is 202 at once, with `Location` naming this resource, whose GET shows the state
        (queued, running, done) and the last fetch's result. With `?wait=N` (at most 10 s) the call
        waits that long for the worker and answers 200 with the outcome if it came in time, else 202.
        A request already pending is not repeated. Without a running worker (`feedsvc worker`) the
        request stays queued.
        """
        session = db.session()
        source = get_source(session, source_id)
        now = utcnow()
        if source.fetch_requested_at is None:
            source.fetch_requested_at = now
        source.next_fetch_at = min(source.next_fetch_at, now)
        requested_at = source.fetch_requested_at
        session.commit()
        headers = {"Location": _status_url(source_id)}
        if args["wait"] > 0:
            source = _wait_for_outcome(session, source_id, requested_at, args["wait"])
        body = fetch_status(session, source)
        return body, 202 if body["state"] in {"queued", "running"} else 200, headers


@blp.route("/export.opml", methods=["GET"])
@blp.doc(
    security=SECURITY,
    responses={
        "200": {
            "description": "OPML 2.0 list of every partner feed",
            "content": {"text/x-opml": {"schema": {"type": "string"}}},
        }
    },
)
@require("sources")
def export_opml() -> Response:
    session = db.session()
    sources = list(session.scalars(select(Source).order_by(Source.id)))
    slugs = dict(session.execute(select(Category.id, Category.slug)).all())
    body = write_opml(f"{site().name}: partner feeds", sources, slugs)
    return Response(
        body,
        content_type="text/x-opml; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="sources.opml"'},
    )


@blp.route("/import", methods=["POST"])
@blp.doc(security=SECURITY)
@require("sources")
@blp.arguments(ImportQuery, location="query")
@blp.response(201, ImportOut)
def import_opml(args: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Add every feed of an OPML file (raw body, or a multipart field named "file"). All or nothing."""
    upload = request.files.get("file")
    body = upload.read() if upload is not None else request.get_data()
    if not body:
        raise InvalidInput("send an OPML document as the body or as a file field named 'file'", field="opml")
    session, the_site, settings = db.session(), site(), ingest_settings()
    existing = set(session.scalars(select(Source.url)))
    created, skipped, problems = [], [], {}
    for feed in read_opml(body):
        if feed.url in existing:
            skipped.append({"url": feed.url, "reason": "a source with this URL exists already"})
            continue
        data = {
            "url": feed.url,
            "name": feed.name,
            "language": feed.language or args.get("language"),
            "category": feed.category or args.get("category"),
        }
        if not data["language"]:
            problems[feed.url] = ["no language: give language= on the outline or ?language= on the request"]
            continue
        try:
            # create_source validates before it adds anything, so a refusal leaves the session clean.
            created.append(create_source(session, the_site, settings, data))
        except InvalidInput as exc:
            problems[feed.url] = [f"{exc.field}: {exc.message}" if exc.field else exc.message]
        existing.add(feed.url)
    if problems:
        session.rollback()
        raise _ImportRefused(problems)
    session.commit()
    return {"created": [source_json(session, s) for s in created], "skipped": skipped}, 201


class _ImportRefused(InvalidInput):
    def __init__(self, problems: dict[str, list[str]]) -> None:
        super().__init__(f"{len(problems)} feed(s) could not be added; nothing was imported")
        self.problems = problems

    def as_errors(self) -> dict[str, list[str]]:
        return self.problems
