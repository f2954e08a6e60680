"""Purges of the cache in front: the request for one feed URL, and an immediate sender.

The durable path is the outbox (the worker purges every changed feed after the quiet period, with
retries). That costs about a second, so the process that committed also sends the same purges at
once, all of them together from a small thread pool, right after the commit. An API request that
made the change answers only once they are done, or after ``PURGE_WAIT`` seconds: a client that polls
the cache in front after its 201 sees its write. Best effort only: a full pool or a failed request is
left to the outbox.

``PURGE_METHOD=REFRESH`` suits Debian's nginx (deploy/nginx-site.conf), which has no purge: a GET
with ``X-Feedsvc-Refresh: 1`` that bypasses the cached copy and stores the new one, sent for both
encodings the cache keeps apart.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from urllib.parse import urlsplit

import httpx
from flask import Flask, Response, g, has_request_context

from feedsvc.scopes import is_feed_scope
from feedsvc.site import Site
from feedsvc.websub import http
from feedsvc.websub.settings import WebSubSettings, feed_urls, surrogate_key
from feedsvc.write import FeedsChanged

log = logging.getLogger(__name__)
REFRESH = "REFRESH"
REFRESH_HEADER = "X-Feedsvc-Refresh"
ENCODINGS = ("identity", "gzip")  # the two variants nginx keeps per URL
_PENDING = "feedsvc_purges"  # flask.g: this request's purges, awaited before its answer goes out


def purge(
    client: httpx.Client,
    settings: WebSubSettings,
    scope: str,
    url: str,
    encodings: Iterable[str] = ENCODINGS,
) -> httpx.Response:
    """One purge of one feed URL as the configuration says; the last answer. A REFRESH is one GET per
    encoding in ``encodings``."""
    target = settings.purge_url.format(path=urlsplit(url).path, url=url)
    keys = surrogate_key(scope)
    if settings.purge_method == REFRESH:
        response = None
        for encoding in encodings:
            response = client.get(target, headers={REFRESH_HEADER: "1", "Accept-Encoding": encoding})
            if response.status_code >= 400:
                break
        if response is None:
            raise ValueError("a refresh needs at least one encoding")
        return response
    return client.request(settings.purge_method, target, headers={"xkey": keys, "Surrogate-Key": keys})


class ImmediatePurges:
    """Listener of the feeds-changed event: sends every purge of the change at once, side by side."""

    def __init__(self, settings: WebSubSettings, site: Site, capacity: int = 1000, threads: int = 8) -> None:
        self.settings = settings
        self.site = site
        self.capacity = capacity
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._client: httpx.Client | None = None
        self._pid = 0
        self._pending = 0
        self._lock = threading.Lock()

    def __call__(self, change: FeedsChanged) -> None:
        # REFRESH: each encoding its own request, so that they too go out together.
        split: list[tuple[str, ...]] = (
            [(e,) for e in ENCODINGS] if self.settings.purge_method == REFRESH else [()]
        )
        jobs = [
            (scope, url, encodings)
            for scope in sorted(s for s in change.scopes if is_feed_scope(s))
            for _, url in feed_urls(self.site, scope)
            for encodings in split
        ]
        futures = [f for f in (self._submit(*job) for job in jobs) if f is not None]
        if futures and has_request_context():
            g.setdefault(_PENDING, []).extend(futures)

    def _submit(self, scope: str, url: str, encodings: tuple[str, ...]) -> Future[None] | None:
        with self._lock:
            if self._pid != os.getpid():
                # Made on first use in each process: a forked gunicorn worker makes its own.
                self._pid = os.getpid()
                self._pending = 0
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="feedsvc-purge")
                self._client = http.trusted_client(
                    self.settings.timeout, limits=httpx.Limits(max_connections=self.threads)
                )
            if self._pending >= self.capacity:  # the outbox purges it a moment later
                return None
            self._pending += 1
            pool, client = self._pool, self._client
        assert pool is not None and client is not None
        return pool.submit(self._send, client, scope, url, encodings)

    def _send(self, client: httpx.Client, scope: str, url: str, encodings: tuple[str, ...]) -> None:
        try:
            purge(client, self.settings, scope, url, encodings or ENCODINGS)
        except httpx.HTTPError as error:
            log.info("immediate purge of %s failed (%s); the worker retries", url, error)
        finally:
            with self._lock:
                self._pending -= 1


def await_purges(app: Flask, seconds: float) -> None:
    """Hold the answer of a request that changed feeds until their purges are done, ``seconds`` at most."""

    @app.after_request
    def _await(response: Response) -> Response:
        pending = g.pop(_PENDING, None)
        if pending:
            _, late = wait(pending, timeout=seconds)
            if late:
                log.info("%d of %d purges out after %.1f s; answering", len(late), len(pending), seconds)
        return response
