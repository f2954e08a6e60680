"""Real processes for the slow tests: private PostgreSQL and Redis servers and the service under gunicorn.

The process code lives in ``bench/procs.py`` (the benches use the same classes); this module puts it
on the import path and adds pytest fixtures, which ``tests/conftest.py`` makes available everywhere:

    private_postgres  a PostgreSQL cluster of the test module's own (stop/start/hang/resume/kill9)
    private_redis     a redis-server of the module's own (stop/start/hang/resume)
    fault_stack       both, plus gunicorn (2 workers) serving the hand-written demo, with a token
    healthy_stack     fault_stack, healed before and after the test (resumed, restarted, /readyz 200)

They skip the test when the machine has no PostgreSQL server binaries or no redis-server.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))  # the benches import it as ``procs``: one module, one registry

from procs import (  # noqa: E402
    Gunicorn,
    PrivatePostgres,
    PrivateRedis,
    descendants,
    feedsvc_cli,
    freeze_tree,
    missing_servers,
    render_nginx,
    thaw_tree,
)

__all__ = [
    "Gunicorn",
    "PrivatePostgres",
    "PrivateRedis",
    "Stack",
    "descendants",
    "fault_stack",
    "feedsvc_cli",
    "freeze_tree",
    "healthy_stack",
    "private_postgres",
    "private_redis",
    "render_nginx",
    "thaw_tree",
    "wait_until",
]


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> float | None:
    """Poll ``check`` until it is true; seconds it took, or None when ``timeout`` passed first."""
    started = time.monotonic()
    deadline = started + timeout
    while True:  # bounded by the deadline
        try:
            if check():
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


@dataclass
class Stack:
    pg: PrivatePostgres
    redis: PrivateRedis
    service: Gunicorn

    @property
    def url(self) -> str:
        return self.service.url

    def ready(self, timeout: float = 2.0) -> bool:
        return httpx.get(self.url + "/readyz", timeout=timeout).status_code == 200

    def heal(self, timeout: float = 30.0) -> None:
        """Undo any fault: thaw or restart the servers, and gunicorn too if it does not come back."""
        self.pg.heal()
        self.redis.heal()
        self.service.start()
        if wait_until(self.ready, timeout / 2) is None:
            # Workers stuck on a dead connection past recovery: a fresh service, same data.
            self.service.stop()
            self.service.start()
            if wait_until(self.ready, timeout / 2) is None:
                raise RuntimeError(f"the service is not ready again after healing:\n{self.service.log}")

    def warm(self, requests: list[tuple[str, dict[str, str]]], per_request: int = 16) -> dict[str, str]:
        """Render and cache each (path, headers) in both workers; returns the ETag of each path.

        Sync workers take connections as they come, so each request is sent many times from a few
        threads at once (both workers busy), fresh connection each time.
        """
        etags: dict[str, str] = {}
        errors: list[str] = []
        lock = threading.Lock()

        def fetch(path: str, headers: dict[str, str]) -> None:
            with httpx.Client(base_url=self.url, timeout=10) as client:
                for _ in range(per_request // 4):
                    r = client.get(path, headers={**headers, "Connection": "close"})
                    with lock:
                        if r.status_code != 200:
                            errors.append(f"{path}: {r.status_code}")
                        etags[path] = r.headers.get("ETag", "")

        for path, headers in requests:
            threads = [threading.Thread(target=fetch, args=(path, headers)) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
        if errors:
            raise RuntimeError(f"warming failed: {errors[:5]}")
        return etags


def _skip_without_servers() -> None:
    why = missing_servers()
    if why:
        pytest.skip(why)


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    _skip_without_servers()
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.close()


@pytest.fixture(scope="module")
def private_redis() -> Iterator[PrivateRedis]:
    _skip_without_servers()
    redis = PrivateRedis()
    try:
        redis.start()
        yield redis
    finally:
        redis.close()


@pytest.fixture(scope="module")
def fault_stack(private_postgres: PrivatePostgres, private_redis: PrivateRedis) -> Iterator[Stack]:
    service = Gunicorn(database_url=private_postgres.url, cache_url=private_redis.url)
    try:
        service.prepare()
        service.start()
        yield Stack(private_postgres, private_redis, service)
    finally:
        service.close()


@pytest.fixture
def healthy_stack(fault_stack: Stack) -> Iterator[Stack]:
    fault_stack.heal()
    try:
        yield fault_stack
    finally:
        fault_stack.heal()
