"""The admin API: JSON in and out, bearer tokens, one error shape, an OpenAPI document from the schemas."""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from flask_smorest import Api
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, UnsupportedMediaType

from feedsvc import db
from feedsvc.api.converters import IdConverter, SlugConverter, id_param_schema, slug_param_schema
from feedsvc.api.schemas import ErrorSchema
from feedsvc.errors import InvalidInput, ServiceError, Unavailable

log = logging.getLogger(__name__)

BODYLESS_OK = {"/api/sources/import"}  # takes an OPML upload, not JSON
MAX_JSON_DEPTH = 32  # our documents nest 3 deep; the stdlib parser recurses, so depth must be bounded
# One JSON string, a bracket, or an unterminated string's opening quote (possessive: no backtracking).
_JSON_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]|"', re.DOTALL)


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
            blueprint.before_request(db.guard_request)
            blueprint.before_request(_json_bodies_only)
            blueprint.teardown_request(db.end_request_deadline)
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["slug"] = SlugConverter
    api = FeedsvcApi(app, spec_kwargs={"info": {"description": "Admin API of feedsvc"}})
    api.register_converter(IdConverter, id_param_schema)
    api.register_converter(SlugConverter, slug_param_schema)
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
            return _service_error(db.unavailable(database))
        log.exception("unhandled error on %s %s", request.method, request.path)
        _rollback()
        return error_response(500, "internal_error", "internal error; the change was not applied")


def _rollback() -> None:
    with contextlib.suppress(Exception):  # a connection to a dead database cannot roll back cleanly
        db.session().rollback()


def _json_bodies_only() -> None:
    writes = request.method in {"POST", "PATCH", "PUT"}
    if writes and request.path not in BODYLESS_OK and not _is_action(request.path) and not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    if request.is_json:
        # get_data enforces MAX_CONTENT_LENGTH (413) before anything is read into memory.
        body = request.get_data(cache=True).decode("utf-8", "replace")
        if json_too_deep(body, MAX_JSON_DEPTH):
            raise InvalidInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", field="_body")


def json_too_deep(text: str, limit: int) -> bool:
    """Whether ``text`` nests arrays/objects deeper than ``limit``, found without parsing it: a linear scan
    that skips strings and stops at the first level too deep (or at an unterminated string, which the
    parser then refuses as malformed)."""
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
        elif token == '"':
            return False
    return False


def _is_action(path: str) -> bool:
    return path.endswith("/fetch")
