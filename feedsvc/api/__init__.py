"""The admin API: JSON in and out, bearer tokens, one error shape, an OpenAPI document from the schemas."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from flask_smorest import Api
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, UnsupportedMediaType

from feedsvc import db
from feedsvc.api.schemas import ErrorSchema
from feedsvc.errors import ServiceError, Unavailable

log = logging.getLogger(__name__)

BODYLESS_OK = {"/api/sources/import"}  # takes an OPML upload, not JSON


def error_response(
    status: int,
    code: str,
    message: str,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The one shape of every error: {"error": {"status", "code", "message", "fields"?}}."""
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if errors:
        body["fields"] = errors
    response = jsonify(error=body)
    response.status_code = status
    if headers:
        response.headers.update(headers)
    return response


def _flatten(messages: Any) -> dict[str, Any]:
    """webargs nests errors by location ({"json": {"title": [...]}}); callers want the fields."""
    if isinstance(messages, dict) and set(messages) <= {"json", "query", "form", "files", "headers"}:
        flat: dict[str, Any] = {}
        for value in messages.values():
            flat.update(value if isinstance(value, dict) else {"_body": value})
        return flat
    return messages


def _summary(fields: dict[str, Any]) -> str:
    parts = []
    for name, problems in fields.items():
        text = (
            problems[0]
            if isinstance(problems, list) and problems and isinstance(problems[0], str)
            else str(problems)
        )
        parts.append(f"{name}: {text}")
    return "; ".join(parts)


class FeedsvcApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        data = getattr(error, "data", None) or {}
        fields = _flatten(data.get("errors") or data.get("messages")) or None
        code = (error.name or "error").lower().replace(" ", "_")
        message = data.get("message") or (_summary(fields) if fields else error.description or error.name)
        if error.code == 413:
            message = (
                f"request body is too large: the limit is {current_app.config['MAX_CONTENT_LENGTH']} bytes"
            )
        if error.code == 422 and fields:
            message = f"invalid request: {message}"
        return error_response(error.code or 500, code, message, fields, data.get("headers"))


def init_app(app: Flask) -> None:
    from feedsvc.api import auth, categories, posts, sources, websub

    for blueprint in (posts.blp, categories.blp, sources.blp, websub.blp):
        # On the API blueprints only: the feed hot path runs no request hooks.
        if _json_bodies_only not in blueprint.before_request_funcs.get(None, []):
            blueprint.before_request(_database_guard)
            blueprint.before_request(_json_bodies_only)
            blueprint.teardown_request(_end_deadline)
    api = FeedsvcApi(app, spec_kwargs={"info": {"description": "Admin API of feedsvc"}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.register_blueprint(posts.blp)
    api.register_blueprint(categories.blp)
    api.register_blueprint(sources.blp)
    api.register_blueprint(websub.blp)
    app.extensions["feedsvc.api"] = api
    auth.init_app(app)

    @app.errorhandler(ServiceError)
    def _service_error(error: ServiceError) -> Response:
        _rollback()
        headers = {"Retry-After": str(error.retry_after)} if isinstance(error, Unavailable) else None
        return error_response(error.status, error.code, error.message, error.as_errors(), headers)

    @app.errorhandler(IntegrityError)
    def _integrity(error: IntegrityError) -> Response:
        # Two writers raced past the checks; the database's constraint kept the data whole.
        db.session().rollback()
        return error_response(409, "conflict", "the change conflicts with stored data; retry")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return api.handle_http_exception(error)
        if db.is_outage(error):
            database = db.database()
            database.failed(error)
            _rollback()
            return _service_error(unavailable(database))
        log.exception("unhandled error on %s %s", request.method, request.path)
        _rollback()
        return error_response(500, "internal_error", "internal error; the change was not applied")


def unavailable(database: db.Database) -> Unavailable:
    return Unavailable(
        "the database is unavailable; the change was not applied, retry later", database.retry_after()
    )


def _rollback() -> None:
    with contextlib.suppress(Exception):  # a connection to a dead database cannot roll back cleanly
        db.session().rollback()


def _database_guard() -> None:
    """API requests: refuse at once while the database is known to be down; bound every wait."""
    database = db.database()
    if not database.available():
        raise unavailable(database)
    if not database.sqlite:
        g.db_deadline = db.set_deadline(database.statement_timeout)


def _end_deadline(_exc: BaseException | None) -> None:
    token = g.pop("db_deadline", None)
    if token is not None:
        db.reset_deadline(token)


def _json_bodies_only() -> None:
    writes = request.method in {"POST", "PATCH", "PUT"}
    if writes and request.path not in BODYLESS_OK and not _is_action(request.path) and not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")


def _is_action(path: str) -> bool:
    return path.endswith("/fetch")
