"""The poll fast path: a WSGI layer that answers 304s and cached feeds without entering Flask.

Aggregators poll every feed every few minutes, nearly always for something that has not changed or
is already rendered. For those polls routing, request contexts and response objects cost more than
the work itself, so this layer answers them from the feed's version row and the cache alone. Anything
else (a render, an error, a first poll of a scope, an unusual query) goes on to the Flask app, which
serves the same answers the slow way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from feedsvc.conditional import accepts_gzip, not_modified, validators
from feedsvc.feeds import FORMATS
from feedsvc.public.feeds import cache_key
from feedsvc.scopes import Scope

_FEED_PATH = re.compile(r"/(?:([a-z]{2,16})/(?:([a-z0-9]+(?:-[a-z0-9]+)*)/)?)?feed\.(rss|atom|json)")
_LIMIT = re.compile(r"limit=([1-9][0-9]{0,2})")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class FeedFastPath:
    def __init__(self, app: Flask, wsgi_app: WsgiApp) -> None:
        self.wsgi_app = wsgi_app
        self.languages = frozenset(app.config["LANGUAGE_LIST"])
        self.reader = app.extensions["feedsvc.state_reader"]
        self.cache = app.extensions["feedsvc.cache"]
        self.default_limit = app.config["FEED_DEFAULT_LIMIT"]
        self.max_limit = app.config["FEED_MAX_LIMIT"]
        self.max_age = app.config["FEED_MAX_AGE"]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        match = _FEED_PATH.fullmatch(environ.get("PATH_INFO", "")) if method in ("GET", "HEAD") else None
        answer = self._answer(match, environ) if match else None
        if answer is None:
            return self.wsgi_app(environ, start_response)
        status, headers, body = answer
        start_response(status, headers)
        return [] if method == "HEAD" or not body else [body]

    def _answer(self, match: re.Match[str], environ: dict[str, Any]) -> tuple[str, list, bytes] | None:
        language, category, fmt = match.groups()
        if language is not None and language not in self.languages:
            return None
        query = environ.get("QUERY_STRING", "")
        if not query:
            limit = self.default_limit
        else:
            given = _LIMIT.fullmatch(query)
            if given is None or int(given.group(1)) > self.max_limit:
                return None  # Flask explains what is wrong with it
            limit = int(given.group(1))
        scope = Scope(language, category)
        try:
            state = self.reader.read(scope.key)
        except Exception:  # let the app answer (and report) a database problem
            return None
        if state is None:
            return None
        headers = validators(state.token, state.modified_at, fmt, limit, self.max_age)
        if not_modified(
            environ.get("HTTP_IF_NONE_MATCH"),
            environ.get("HTTP_IF_MODIFIED_SINCE"),
            headers[0][1],
            state.modified_at,
        ):
            return "304 Not Modified", headers, b""
        key = cache_key(scope, state, fmt, limit)
        if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")):
            key += ":gz"
            headers.append(("Content-Encoding", "gzip"))
        body = self.cache.get(key)
        if body is None:
            return None
        headers.append(("Content-Type", FORMATS[fmt].content_type))
        headers.append(("Content-Length", str(len(body))))
        return "200 OK", headers, body
