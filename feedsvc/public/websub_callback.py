"""/websub/callback/<source id>/<token>: where partners' WebSub hubs verify and deliver.

(Our own hub, the publisher side, lives at /websub; this is the subscriber side.)

* GET: the hub verifies a (un)subscription; the challenge is echoed only for a subscription we asked
  for, with the right token and topic, else 404;
* POST: a delivery. Its HMAC signature (``X-Hub-Signature``) must match the subscription's secret;
  a delivery with a bad or missing one is acknowledged (2xx, as the W3C spec asks) and ignored. A good
  one is ingested at once, through the same decode → parse → store path as a fetch, bounded by
  ``FETCH_MAX_BYTES``.
"""

from __future__ import annotations

import logging
import socket

from flask import Blueprint, Response, current_app, request

from feedsvc import db
from feedsvc.ingest.service import claims, push
from feedsvc.ingest.service.run import Pushed, ingest_source
from feedsvc.ingest.service.settings import ingest_settings
from feedsvc.models import Source, utcnow

log = logging.getLogger(__name__)
bp = Blueprint("websub_callback", __name__)
NO_HOST_LIMIT = 1_000_000  # a delivery fetches nothing: host politeness does not apply


def _plain(text: str, status: int) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")


@bp.get("/websub/callback/<int:source_id>/<token>")
def verify(source_id: int, token: str) -> Response:
    session = db.session()
    source = session.get(Source, source_id)
    mode = request.args.get("hub.mode", "")
    if source is None or not push.token_ok(source, token):
        return _plain("unknown subscription", 404)
    if mode == "denied":
        source.push_state = push.FAILED
        source.push_lease_until = utcnow() + push.RETRY_FAILED
        reason = request.args.get("hub.reason", "")
        source.last_warning = f"WebSub hub denied the subscription: {reason}"[:500]
        session.commit()
        return _plain("", 200)
    challenge = request.args.get("hub.challenge")
    lease = request.args.get("hub.lease_seconds", "")
    lease_seconds = int(lease) if lease.isascii() and lease.isdigit() else None
    topic = request.args.get("hub.topic", "")
    if not challenge or not push.verify(session, source, mode, topic, lease_seconds, ingest_settings()):
        session.rollback()
        return _plain("unknown subscription", 404)
    session.commit()
    return _plain(challenge, 200)


@bp.post("/websub/callback/<int:source_id>/<token>")
def deliver(source_id: int, token: str) -> Response:
    session = db.session()
    source = session.get(Source, source_id)
    if source is None:
        return _plain("gone", 410)  # lets the hub end a subscription we can no longer unsubscribe
    if not push.token_ok(source, token):
        return _plain("unknown subscription", 404)
    if source.push_state not in (push.ACTIVE, push.PENDING) or not source.enabled:
        return _plain("not subscribed", 410)
    limit = current_app.config["FETCH_MAX_BYTES"]
    if (request.content_length or 0) > limit:
        return _plain("too large", 413)
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return _plain("too large", 413)
    if not push.signature_ok(source, body, request.headers.get("X-Hub-Signature")):
        log.warning("source %s: WebSub delivery with a bad or missing signature ignored", source_id)
        session.rollback()
        return _plain("ignored", 202)
    session.commit()
    settings = ingest_settings()
    owner = f"push@{socket.gethostname()}"
    if not claims.claim(session, source_id, owner, utcnow(), settings.lease_seconds, NO_HOST_LIMIT):
        # A fetch of this source is in progress; it will see the same content, or the next one will.
        source = session.get(Source, source_id, populate_existing=True)
        if source is not None:
            source.next_fetch_at = utcnow()
        session.commit()
        return _plain("accepted; queued", 202)
    headers = {"content-type": request.headers.get("Content-Type", "")}
    result = ingest_source(session, source_id, owner, settings, claimed=True, pushed=Pushed(body, headers))
    return _plain(result.line(), 200 if result.outcome != "error" else 202)
