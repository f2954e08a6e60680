"""Real local HTTP servers for the WebSub tests: a subscriber, an external hub, a cache's purge endpoint.

Each is a ``ThreadingHTTPServer`` on 127.0.0.1 in a thread of its own, recording what it receives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


class Recorder:
    """A server that records every request and answers as ``respond`` says."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.confirm = True  # subscriber: echo the challenge
        self.post_status = 204
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                entry = Received(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
                with recorder.lock:
                    recorder.received.append(entry)
                status, answer = recorder.respond(entry)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PURGE = do_BAN = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        # A short poll interval: shutdown() waits up to one interval, once per test.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(self, entry: Received) -> tuple[int, bytes]:
        if entry.method == "GET" and "hub.challenge" in entry.query:
            if not self.confirm:
                return 404, b""
            return 200, entry.query["hub.challenge"][0].encode()
        return self.post_status, b""

    def requests(self, method: str | None = None, path: str | None = None) -> list[Received]:
        with self.lock:
            return [
                r
                for r in self.received
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def wait_for(self, condition: Callable[[], Any], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.01)
        return condition()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
