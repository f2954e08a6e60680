"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from feedsvc import db
from feedsvc.cache import feed_cache

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """200 when the database and the cache answer; else 503 naming what is down (and nothing about
    where it lives or how it failed: that goes to the log)."""
    checks: dict[str, str] = {}
    database = db.database()
    try:
        database.read(lambda conn: conn.execute(text("SELECT 1 FROM feed_states LIMIT 1")))
        database.breaker.success()
        checks["database"] = "ok"
    except Exception as error:
        log.warning("readiness: database check failed: %s", type(error).__name__)
        checks["database"] = "unavailable"
    checks["cache"] = "ok" if feed_cache().ping() else "unavailable"
    ready = all(v == "ok" for v in checks.values())
    down = [name for name, value in checks.items() if value != "ok"]
    body = jsonify(status="ok" if ready else "unavailable", checks=checks, down=down)
    return body, 200 if ready else 503
