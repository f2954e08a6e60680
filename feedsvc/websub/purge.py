"""Purges of the cache in front: the request for one feed URL, and an immediate sender.

The durable path is the outbox (the worker purges every changed feed after the quiet period, with
retries). That costs about a second, so the process that committed also sends the same purges at
once, from one background thread, right after the commit: readers of a cache in front then see a
write within milliseconds. Best effort only: a full queue or a failed request is left to the outbox.

``PURGE_METHOD=REFRESH`` suits Debian's nginx (deploy/nginx-site.conf), which has no purge: a GET
with ``X-Feedsvc-Refresh: 1`` that bypasses the cached copy and stores the new one, sent for both
encodings the cache keeps apart.
"""

from __future__ import annotations

import logging
import queue
import threading
from urllib.parse import urlsplit

import httpx

from feedsvc.scopes import is_feed_scope
from feedsvc.site import Site
from feedsvc.websub import http
from feedsvc.websub.settings import WebSubSettings, feed_urls, surrogate_key
from feedsvc.write import FeedsChanged

log = logging.getLogger(__name__)
REFRESH = "REFRESH"
REFRESH_HEADER = "X-Feedsvc-Refresh"


def purge(client: httpx.Client, settings: WebSubSettings, scope: str, url: str) -> httpx.Response:
    """One purge of one feed URL as the configuration says; the last answer."""
    target = settings.purge_url.format(path=urlsplit(url).path, url=url)
    keys = surrogate_key(scope)
    if settings.purge_method == REFRESH:
        response = client.get(target, headers={REFRESH_HEADER: "1", "Accept-Encoding": "identity"})
        if response.status_code < 400:
            response = client.get(target, headers={REFRESH_HEADER: "1", "Accept-Encoding": "gzip"})
        return response
    return client.request(settings.purge_method, target, headers={"xkey": keys, "Surrogate-Key": keys})


class ImmediatePurges:
    """Listener of the feeds-changed event: queues the changed scopes for the sender thread."""

    def __init__(self, settings: WebSubSettings, site: Site, capacity: int = 1000) -> None:
        self.settings = settings
        self.site = site
        self.queue: queue.Queue[str] = queue.Queue(capacity)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __call__(self, change: FeedsChanged) -> None:
        for scope in sorted(s for s in change.scopes if is_feed_scope(s)):
            try:
                self.queue.put_nowait(scope)
            except queue.Full:  # the outbox purges it a moment later
                return
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        # Started on first use, so a forked gunicorn worker starts its own.
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="feedsvc-purge", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        with http.trusted_client(self.settings.timeout) as client:
            while True:
                scope = self.queue.get()
                for _, url in feed_urls(self.site, scope):
                    try:
                        purge(client, self.settings, scope, url)
                    except httpx.HTTPError as error:
                        log.info("immediate purge of %s failed (%s); the worker retries", url, error)
