"""Feed endpoints as Flask routes, built from the format registry. The answers come from
``feedsvc.public.serving``, the same code the WSGI fast path calls, so both give the same answers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response as WerkzeugResponse

from feedsvc.feeds import FORMATS
from feedsvc.public.serving import OPML_PATH, FeedServer

bp = Blueprint("feeds", __name__)
_FMT = f"<any({', '.join(FORMATS)}):fmt>"


class _AsAnswered(Response):
    """Sends the serving module's headers as they are (werkzeug would drop Last-Modified from 304s)."""

    def get_wsgi_headers(self, environ: dict[str, Any]) -> Headers:
        return Headers(self.headers)


def server() -> FeedServer:
    return current_app.extensions["feedsvc.server"]


def _serve(**_route: str) -> WerkzeugResponse:
    # Reached when the fast path is not installed in front (the same answers, through Flask).
    answer = server().answer_environ(request.environ)
    if answer is None:  # pragma: no cover - the routes only match feed paths
        return Response(status=404)
    request.environ["feedsvc.cache"] = answer.cache
    response = _AsAnswered(answer.body, status=answer.status)
    response.headers = Headers(answer.headers)  # exactly these: no default type or length added
    return response


bp.add_url_rule(f"/feed.{_FMT}", "site_feed", _serve)
bp.add_url_rule(f"/<lang>/feed.{_FMT}", "language_feed", _serve)
bp.add_url_rule(f"/<lang>/<category>/feed.{_FMT}", "category_feed", _serve)
bp.add_url_rule(OPML_PATH, "opml", _serve)
# The documents served like feeds (feedsvc.public.documents): sitemaps, robots.txt, Yandex.
bp.add_url_rule("/robots.txt", "robots", _serve)
bp.add_url_rule("/sitemap.xml", "sitemap_index", _serve)
bp.add_url_rule("/sitemaps/<page>", "sitemap_page", _serve)
bp.add_url_rule("/news-sitemap.xml", "news_sitemap", _serve)
bp.add_url_rule("/<lang>/news-sitemap.xml", "language_news_sitemap", _serve)
bp.add_url_rule("/<lang>/yandex.rss", "yandex", _serve)
# Feed paths with a format the registry does not have: the serving module's 404, not the pages'.
bp.add_url_rule("/feed.<other>", "site_feed_other", _serve)
bp.add_url_rule("/<lang>/feed.<other>", "language_feed_other", _serve)
bp.add_url_rule("/<lang>/<category>/feed.<other>", "category_feed_other", _serve)
