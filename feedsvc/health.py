"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from feedsvc import db
from feedsvc.cache import feed_cache

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        with db.engine().connect() as conn:
            conn.execute(text("SELECT 1 FROM feed_states LIMIT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}: {exc}".splitlines()[0][:300]
    try:
        checks["cache"] = "ok" if feed_cache().ping() else "error: cache did not return what was stored"
    except Exception as exc:
        checks["cache"] = f"error: {type(exc).__name__}: {exc}".splitlines()[0][:300]
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
