"""Feed endpoints as Flask routes, built from the format registry. The answers come from
``feedsvc.public.serving``, the same code the WSGI fast path calls, so both give the same answers."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from feedsvc.feeds import FORMATS
from feedsvc.public.serving import OPML_PATH, FeedServer

bp = Blueprint("feeds", __name__)
_FMT = f"<any({', '.join(FORMATS)}):fmt>"


def server() -> FeedServer:
    return current_app.extensions["feedsvc.server"]


def _serve(**_route: str) -> Response:
    answer = server().answer_environ(request.environ)
    if answer is None:  # pragma: no cover - the routes only match feed paths
        return Response(status=404)
    request.environ["feedsvc.cache"] = answer.cache
    return Response(answer.body, status=answer.status, headers=answer.headers)


bp.add_url_rule(f"/feed.{_FMT}", "site_feed", _serve)
bp.add_url_rule(f"/<lang>/feed.{_FMT}", "language_feed", _serve)
bp.add_url_rule(f"/<lang>/<category>/feed.{_FMT}", "category_feed", _serve)
bp.add_url_rule(OPML_PATH, "opml", _serve)
