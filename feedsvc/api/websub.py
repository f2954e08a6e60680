"""/api/websub: the subscriptions of our hub and their health, and the pings to external hubs."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from feedsvc import db
from feedsvc.api.auth import require
from feedsvc.models import WebSubPing, WebSubSubscription, utcnow

blp = Blueprint("websub", __name__, url_prefix="/api/websub", description="WebSub hub and publisher")
SECURITY = [{"bearerAuth": []}]
STATES = ("pending", "active", "unsubscribed", "expired", "failed", "denied")


class SubscriptionQuery(Schema):
    topic = fields.String(metadata={"description": "a feed URL exactly as subscribed"})
    state = fields.String(validate=validate.OneOf(STATES))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class SubscriptionOut(Schema):
    id = fields.Integer()
    callback = fields.String()
    topic = fields.String()
    state = fields.String()
    lease_seconds = fields.Integer()
    expires_at = fields.DateTime(allow_none=True)
    pending = fields.String(allow_none=True, metadata={"description": "a request awaiting verification"})
    delivery_pending = fields.Boolean()
    last_delivery_at = fields.DateTime(allow_none=True)
    last_attempt_at = fields.DateTime(allow_none=True)
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    consecutive_failures = fields.Integer()
    failing_since = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class PingOut(Schema):
    kind = fields.String()
    target = fields.String()
    topic = fields.String()
    pending = fields.Boolean()
    last_success_at = fields.DateTime(allow_none=True)
    last_attempt_at = fields.DateTime(allow_none=True)
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    consecutive_failures = fields.Integer()
    next_attempt_at = fields.DateTime()


def _pending(changed: Any, covered: Any) -> bool:
    return changed is not None and (covered is None or changed > covered)


def subscription_json(sub: WebSubSubscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "callback": sub.callback,
        "topic": sub.topic,
        "state": sub.state,
        "lease_seconds": sub.lease_seconds,
        "expires_at": sub.expires_at,
        "pending": sub.pending_mode,
        "delivery_pending": sub.state == "active" and _pending(sub.changed_at, sub.covered_at),
        "last_delivery_at": sub.last_delivery_at,
        "last_attempt_at": sub.last_attempt_at,
        "last_status": sub.last_status,
        "last_error": sub.last_error,
        "consecutive_failures": sub.failures,
        "failing_since": sub.first_failure_at,
        "next_attempt_at": sub.next_attempt_at,
        "created_at": sub.created_at,
    }


@blp.route("/subscriptions")
class Subscriptions(MethodView):
    @blp.doc(security=SECURITY)
    @require("sources")
    @blp.arguments(SubscriptionQuery, location="query")
    @blp.response(200, SubscriptionOut(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Subscriptions (of one topic, or all), newest first, with their delivery health."""
        stmt = select(WebSubSubscription).order_by(WebSubSubscription.id.desc()).limit(args["limit"])
        if "topic" in args:
            stmt = stmt.where(WebSubSubscription.topic == args["topic"])
        if "state" in args:
            stmt = stmt.where(WebSubSubscription.state == args["state"])
        return [subscription_json(s) for s in db.session().scalars(stmt)]


@blp.route("/pings")
class Pings(MethodView):
    @blp.doc(security=SECURITY)
    @require("sources")
    @blp.response(200, PingOut(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Publish pings to external hubs and cache purges: one row per (target, feed URL)."""
        now = utcnow()
        rows = db.session().scalars(
            select(WebSubPing).order_by(WebSubPing.kind, WebSubPing.topic).limit(1000)
        )
        return [
            {
                "kind": p.kind,
                "target": p.target,
                "topic": p.topic,
                "pending": _pending(p.changed_at, p.covered_at) or p.next_attempt_at > now,
                "last_success_at": p.last_success_at,
                "last_attempt_at": p.last_attempt_at,
                "last_status": p.last_status,
                "last_error": p.last_error,
                "consecutive_failures": p.failures,
                "next_attempt_at": p.next_attempt_at,
            }
            for p in rows
        ]
