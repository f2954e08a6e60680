"""The ceiling: a minimal Flask app that serves recorded feed responses from memory.

It answers the same paths with the same bytes and headers as the measured service (recorded by
``bench/run.py`` into the JSON manifest named by ``BENCH_CEILING_MANIFEST``) and answers 304 when
If-None-Match names the recorded ETag, so under the same gunicorn settings it shows the most this
machine can serve through Flask: the service's figures are reported as ratios to it.

Manifest: ``{"/ru/feed.rss": {"body": "<file>", "headers": {...}, "headers_304": {...}}, ...}``.
Run: ``BENCH_CEILING_MANIFEST=/tmp/m.json gunicorn --pythonpath bench ceiling:app``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, Response, request


def _etags(value: str) -> set[str]:
    # Weak comparison, as the service does it: W/"x" and "x" match.
    return {part.strip().removeprefix("W/") for part in value.split(",") if part.strip()}


def create_app(manifest_path: str) -> Flask:
    app = Flask(__name__)
    routes: dict[str, tuple[bytes, dict[str, str], dict[str, str], str]] = {}
    for path, spec in json.loads(Path(manifest_path).read_text()).items():
        body = Path(spec["body"]).read_bytes()
        headers = dict(spec["headers"])
        etag = next(v for k, v in headers.items() if k.lower() == "etag")
        routes[path] = (body, headers, dict(spec["headers_304"]), etag.removeprefix("W/"))

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status":"ok"}\n', content_type="application/json")

    @app.get("/<path:path>")
    def feed(path: str) -> Response:
        route = routes.get(request.path)
        if route is None:
            return Response(b"not found\n", status=404)
        body, headers, headers_304, etag = route
        inm = request.headers.get("If-None-Match")
        if inm is not None and (inm.strip() == "*" or etag in _etags(inm)):
            return Response(status=304, headers=headers_304)
        return Response(body, headers=headers)

    return app


app = create_app(os.environ["BENCH_CEILING_MANIFEST"]) if "BENCH_CEILING_MANIFEST" in os.environ else None
