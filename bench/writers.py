"""Concurrent admin writers on PostgreSQL, then a consistency check through the API and the database.

    python bench/writers.py                    # 4 writers, 30 s, private PostgreSQL + Redis
    python bench/writers.py --seconds 10
    python bench/writers.py --database-url postgresql://postgres@127.0.0.1:5432/test_b

Each writer creates, edits and deletes posts and categories through the admin API of the real service
(gunicorn, 2 sync workers) as fast as it is answered; statuses are counted per operation. At the end:
every post_categories row points to an existing post and category and carries its post's language,
published_at and visible; the API shows what the writers last wrote; each feed shows exactly the newest
posts of its scope; each feed that a write touched has a new ETag; and no request got a 5xx. Exit
status 1 on any 5xx, transport error or inconsistency.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from procs import Gunicorn, PrivatePostgres, PrivateRedis

LANGUAGES = ("en", "ru", "uz")
FEED_LIMIT = 50  # the service's default feed length


@dataclass
class PostState:
    language: str
    categories: set[str]
    certain: bool = True  # False once a request about it ended without an answer


@dataclass
class Report:
    seconds: float = 0.0
    writers: int = 0
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    transport_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    samples: dict[str, str] = field(default_factory=dict)  # first answer of each (operation, 4xx)
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(sum(c.values()) for c in self.statuses.values())

    @property
    def five_xx(self) -> int:
        return sum(n for c in self.statuses.values() for s, n in c.items() if s.startswith("5"))

    @property
    def ok(self) -> bool:
        return not (self.five_xx or self.transport_errors or self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "writers": self.writers,
            "requests": self.requests,
            "statuses": {op: dict(c) for op, c in self.statuses.items()},
            "five_xx": self.five_xx,
            "transport_errors": self.transport_errors[:20],
            "server_errors": self.server_errors[:20],
            "samples_4xx": self.samples,
            "problems": self.problems[:50],
            "checked": self.checked,
        }


class World:
    """What the writers believe the service holds; shared, behind one lock."""

    def __init__(self, fixed_categories: list[str]) -> None:
        self.lock = threading.Lock()
        self.fixed = set(fixed_categories)  # the demo's: used in posts, never edited or deleted
        self.live: dict[str, dict[str, str] | None] = dict.fromkeys(fixed_categories)  # slug → names
        self.deleted: set[str] = set()  # deletes answered 204
        self.posts: dict[int, PostState] = {}
        self.deleted_posts: set[int] = set()
        self.touched: set[str] = set()  # feed scopes a successful write changed

    def touch(self, language: str, categories: set[str]) -> None:
        self.touched |= {"*", language, *(f"{language}/{c}" for c in categories)}


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class Writer(threading.Thread):
    def __init__(self, k: int, base: str, token: str, world: World, report: Report, deadline: float) -> None:
        super().__init__(name=f"writer-{k}", daemon=True)
        self.k = k
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}
        self.world = world
        self.report = report
        self.deadline = deadline
        self.rng = random.Random(k)
        self.run_id = uuid.uuid4().hex[:6]
        self.mine: list[str] = []  # categories this writer created and may edit or delete
        self.my_posts: list[int] = []
        self.n = 0

    def call(self, client: httpx.Client, op: str, method: str, path: str, **kw: Any) -> httpx.Response | None:
        try:
            r = client.request(method, path, headers=self.headers, **kw)
        except httpx.HTTPError as exc:
            with self.world.lock:
                self.report.statuses[op]["transport error"] += 1
                self.report.transport_errors.append(f"{op} {method} {path}: {type(exc).__name__}: {exc}")
            return None
        with self.world.lock:
            self.report.statuses[op][str(r.status_code)] += 1
            if r.status_code >= 500:
                self.report.server_errors.append(f"{op} {method} {path}: {r.status_code} {r.text[:300]}")
            elif r.status_code >= 400:
                self.report.samples.setdefault(f"{op} {r.status_code}", r.text[:200])
        return r

    def run(self) -> None:
        ops = (
            (self.create_post, 35),
            (self.patch_post, 25),
            (self.delete_post, 10),
            (self.create_category, 10),
            (self.patch_category, 10),
            (self.delete_category, 10),
        )
        funcs, weights = zip(*ops, strict=True)
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while time.monotonic() < self.deadline:  # bounded by the deadline
                self.n += 1
                self.rng.choices(funcs, weights)[0](client)

    # -- operations --------------------------------------------------------------------------

    def _pick_categories(self) -> list[str]:
        with self.world.lock:
            pool = sorted(self.world.live)
        return self.rng.sample(pool, k=min(len(pool), self.rng.randint(0, 3)))

    def _when(self) -> str:
        return (datetime.now(UTC) - timedelta(minutes=self.rng.randint(0, 3 * 24 * 60))).isoformat()

    def create_post(self, client: httpx.Client) -> None:
        language = self.rng.choice(LANGUAGES)
        body: dict[str, Any] = {
            "title": f"Writer {self.k} post {self.n} {self.run_id}",
            "content": f"<p>Body {self.n}</p>",
            "language": language,
            "categories": self._pick_categories(),
        }
        if self.rng.random() < 0.5:
            body["published_at"] = self._when()
        r = self.call(client, "create post", "POST", "/api/posts", json=body)
        if r is not None and r.status_code == 201:
            data = r.json()
            with self.world.lock:
                self.world.posts[data["id"]] = PostState(data["language"], set(data["categories"]))
                self.world.touch(data["language"], set(data["categories"]))
            self.my_posts.append(data["id"])

    def patch_post(self, client: httpx.Client) -> None:
        if not self.my_posts:
            return self.create_post(client)
        post_id = self.rng.choice(self.my_posts)
        body: dict[str, Any] = {}
        roll = self.rng.random()
        if roll < 0.4:
            body["categories"] = self._pick_categories()
        elif roll < 0.6:
            body["language"] = self.rng.choice(LANGUAGES)
        elif roll < 0.8:
            body["published_at"] = self._when()
        else:
            body["title"] = f"Writer {self.k} post {post_id} edit {self.n}"
        r = self.call(client, "patch post", "PATCH", f"/api/posts/{post_id}", json=body)
        with self.world.lock:
            state = self.world.posts[post_id]
            if r is None:
                state.certain = False
            elif r.status_code == 200:
                data = r.json()
                self.world.touch(state.language, state.categories)
                state.language, state.categories = data["language"], set(data["categories"])
                self.world.touch(state.language, state.categories)

    def delete_post(self, client: httpx.Client) -> None:
        if not self.my_posts:
            return None
        post_id = self.my_posts.pop(self.rng.randrange(len(self.my_posts)))
        r = self.call(client, "delete post", "DELETE", f"/api/posts/{post_id}")
        with self.world.lock:
            state = self.world.posts.pop(post_id)
            if r is not None and r.status_code == 204:
                self.world.deleted_posts.add(post_id)
                self.world.touch(state.language, state.categories)
            elif r is None:
                state.certain = False
                self.world.posts[post_id] = state  # fate unknown: checked loosely
            else:
                self.world.posts[post_id] = state
                self.my_posts.append(post_id)
        return None

    def _names(self, slug: str) -> dict[str, str]:
        return {"en": f"Topic {slug} {self.n}", "ru": f"Тема {slug} {self.n}", "uz": f"Mavzu {slug} {self.n}"}

    def create_category(self, client: httpx.Client) -> None:
        slug = f"w{self.k}-{self.run_id}-{self.n}"
        names = self._names(slug)
        r = self.call(
            client, "create category", "POST", "/api/categories", json={"slug": slug, "names": names}
        )
        if r is not None and r.status_code == 201:
            with self.world.lock:
                self.world.live[slug] = names
            self.mine.append(slug)

    def patch_category(self, client: httpx.Client) -> None:
        if not self.mine:
            return self.create_category(client)
        slug = self.rng.choice(self.mine)
        names = self._names(slug)
        r = self.call(client, "patch category", "PATCH", f"/api/categories/{slug}", json={"names": names})
        if r is not None and r.status_code == 200:
            with self.world.lock:
                self.world.live[slug] = names
        elif r is None:
            with self.world.lock:
                self.world.live[slug] = None  # names unknown

    def delete_category(self, client: httpx.Client) -> None:
        if len(self.mine) < 2:
            return self.create_category(client)
        slug = self.mine.pop(self.rng.randrange(len(self.mine)))
        with self.world.lock:
            # Gone from the pool first, so no writer files a post under it from now on.
            names = self.world.live.pop(slug)
        r = self.call(client, "delete category", "DELETE", f"/api/categories/{slug}")
        with self.world.lock:
            if r is not None and r.status_code == 204:
                self.world.deleted.add(slug)
                for state in self.world.posts.values():
                    if slug in state.categories:
                        state.categories.discard(slug)
                        self.world.touch(state.language, set())
            elif r is None:
                pass  # fate unknown: out of the pool either way, the check takes the service's word
            else:
                self.world.live[slug] = names
                self.mine.append(slug)


# ------------------------------------------------------------------------------------- checks


def feed_paths(categories: list[str]) -> dict[str, str]:
    """Scope key → JSON feed path, for the site, each language and each language × category."""
    paths = {"*": "/feed.json"}
    for lang in LANGUAGES:
        paths[lang] = f"/{lang}/feed.json"
        for slug in categories:
            paths[f"{lang}/{slug}"] = f"/{lang}/{slug}/feed.json"
    return paths


def etags(client: httpx.Client, paths: dict[str, str]) -> dict[str, str]:
    out = {}
    for scope, path in paths.items():
        r = client.get(path)
        if r.status_code == 200:
            out[scope] = r.headers.get("ETag", "")
    return out


def expected_feed(cur: Any, scope: str) -> list[str]:
    """GUIDs of the newest visible posts of ``scope``, in the order the service sorts them."""
    lang, _, slug = scope.partition("/")
    if scope == "*":
        cur.execute(
            "SELECT uid FROM posts WHERE visible ORDER BY published_at DESC, id DESC LIMIT %s", (FEED_LIMIT,)
        )
    elif not slug:
        cur.execute(
            "SELECT uid FROM posts WHERE visible AND language = %s ORDER BY published_at DESC, id DESC "
            "LIMIT %s",
            (lang, FEED_LIMIT),
        )
    else:
        cur.execute(
            "SELECT p.uid FROM post_categories pc JOIN categories c ON c.id = pc.category_id "
            "JOIN posts p ON p.id = pc.post_id WHERE c.slug = %s AND pc.language = %s AND pc.visible "
            "ORDER BY pc.published_at DESC, pc.post_id DESC LIMIT %s",
            (slug, lang, FEED_LIMIT),
        )
    return [f"urn:uuid:{row[0]}" for row in cur.fetchall()]


def check(
    base: str, token: str, database_url: str, world: World, before: dict[str, str], report: Report
) -> None:
    import psycopg

    problems = report.problems
    headers = {"Authorization": f"Bearer {token}"}
    with psycopg.connect(psycopg_url(database_url)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM post_categories pc LEFT JOIN posts p ON p.id = pc.post_id "
            "LEFT JOIN categories c ON c.id = pc.category_id WHERE p.id IS NULL OR c.id IS NULL"
        )
        if orphans := cur.fetchone()[0]:  # type: ignore[index]
            problems.append(f"database: {orphans} post_categories row(s) without their post or category")
        cur.execute(
            "SELECT pc.post_id, pc.category_id FROM post_categories pc JOIN posts p ON p.id = pc.post_id "
            "WHERE pc.language <> p.language OR pc.published_at <> p.published_at OR pc.visible <> p.visible"
        )
        if stale := cur.fetchall():
            problems.append(
                f"database: {len(stale)} post_categories row(s) disagree with their post's "
                f"language/published_at/visible, e.g. (post, category) {stale[:3]}"
            )
        cur.execute("SELECT count(*) FROM post_categories")
        report.checked["post_categories rows"] = cur.fetchone()[0]  # type: ignore[index]
        cur.execute(
            "SELECT c.slug, count(pc.post_id) FROM categories c LEFT JOIN post_categories pc "
            "ON pc.category_id = c.id GROUP BY c.slug"
        )
        db_counts = dict(cur.fetchall())

        with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
            # Categories: exactly the live ones, with the names last written and the database's counts.
            r = client.get("/api/categories")
            api_categories = {c["slug"]: c for c in r.json()} if r.status_code == 200 else {}
            if r.status_code != 200:
                problems.append(f"GET /api/categories: {r.status_code}")
            for slug, names in world.live.items():
                got = api_categories.get(slug)
                if got is None:
                    problems.append(f"category {slug}: missing from the API")
                elif names is not None and got["names"] != names:
                    problems.append(f"category {slug}: names {got['names']} != last written {names}")
            for slug in sorted(world.deleted & set(api_categories)):
                problems.append(f"category {slug}: deleted (204) but still listed")
            for slug, got in api_categories.items():
                if got["posts"] != db_counts.get(slug, 0):
                    problems.append(
                        f"category {slug}: API counts {got['posts']}, database {db_counts.get(slug)}"
                    )
            report.checked["categories"] = len(api_categories)

            # Posts: what each writer last wrote (categories lose the ones deleted since).
            live_now = set(api_categories)
            for post_id, state in world.posts.items():
                r = client.get(f"/api/posts/{post_id}")
                if not state.certain:
                    if r.status_code not in (200, 404):
                        problems.append(f"post {post_id}: GET {r.status_code}")
                    continue
                if r.status_code != 200:
                    problems.append(f"post {post_id}: GET {r.status_code}, expected 200")
                    continue
                data = r.json()
                want = state.categories & live_now
                if data["language"] != state.language or set(data["categories"]) != want:
                    problems.append(
                        f"post {post_id}: API has {data['language']} {sorted(data['categories'])}, "
                        f"last written {state.language} {sorted(want)}"
                    )
            for post_id in world.deleted_posts:
                r = client.get(f"/api/posts/{post_id}")
                if r.status_code != 404:
                    problems.append(f"post {post_id}: deleted, but GET answers {r.status_code}")
            report.checked["posts"] = len(world.posts) + len(world.deleted_posts)

        # Feeds: each shows exactly the newest posts of its scope; each touched one has a new ETag.
        with httpx.Client(base_url=base, timeout=30) as client:
            paths = feed_paths(sorted(live_now))
            after = {}
            for scope, path in paths.items():
                r = client.get(path)
                if r.status_code != 200:
                    problems.append(f"feed {path}: {r.status_code}")
                    continue
                after[scope] = r.headers.get("ETag", "")
                got = [item["id"] for item in r.json()["items"]]
                want = expected_feed(cur, scope)
                if got != want:
                    missing = len(set(want) - set(got))
                    extra = len(set(got) - set(want))
                    problems.append(
                        f"feed {path}: {len(got)} items differ from the database's newest {len(want)} "
                        f"({missing} missing, {extra} extra{', order' if not missing and not extra else ''})"
                    )
            report.checked["feeds"] = len(after)
            touched = [s for s in before if s in world.touched and s in after]
            for scope in touched:
                if after[scope] == before[scope]:
                    problems.append(
                        f"feed {paths[scope]}: written to, but its ETag {after[scope]} is unchanged"
                    )
            report.checked["feeds touched, ETag changed"] = sum(after[s] != before[s] for s in touched)
            report.checked["feeds touched"] = len(touched)


def run_check(base: str, token: str, database_url: str, *, seconds: float, writers: int = 4) -> Report:
    """The whole exercise against a running service; returns the report (``report.ok``)."""
    report = Report(seconds=seconds, writers=writers)
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.get(base + "/api/categories", headers=headers, timeout=30)
    r.raise_for_status()
    fixed = [c["slug"] for c in r.json()]
    world = World(fixed)
    with httpx.Client(base_url=base, timeout=30) as client:
        before = etags(client, feed_paths(fixed))
    deadline = time.monotonic() + seconds
    threads = [Writer(k, base, token, world, report, deadline) for k in range(writers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)  # a request has a 30 s client timeout; never wait forever
    report.seconds = time.monotonic() - started
    if any(t.is_alive() for t in threads):
        report.problems.append("a writer was still running long after the deadline")
    check(base, token, database_url, world, before, report)
    return report


def print_report(report: Report) -> None:
    print(
        f"writers: {report.writers}, {report.seconds:.1f} s, {report.requests} requests "
        f"({report.requests / report.seconds:.0f}/s)"
        if report.seconds
        else ""
    )
    for op in sorted(report.statuses):
        counts = ", ".join(f"{s}: {n}" for s, n in sorted(report.statuses[op].items()))
        print(f"  {op:16} {counts}")
    for what, body in sorted(report.samples.items()):
        print(f"  e.g. {what}: {body}")
    print("checked: " + ", ".join(f"{k} {v}" for k, v in report.checked.items()))
    print(
        f"5xx: {report.five_xx}, transport errors: {len(report.transport_errors)}, "
        f"inconsistencies: {len(report.problems)}"
    )
    for line in report.server_errors[:10]:
        print(f"  5xx: {line}")
    for line in report.transport_errors[:10]:
        print(f"  transport: {line}")
    for line in report.problems[:30]:
        print(f"  inconsistent: {line}")
    print("RESULT: " + ("consistent, no 5xx" if report.ok else "FAILED"), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    p.add_argument(
        "--database-url", default=None, help="a PostgreSQL database to use instead of a private one"
    )
    p.add_argument("--cache-url", default=None, help="default: a private redis-server")
    p.add_argument(
        "--posts", type=int, default=500, help="synthetic posts loaded first (into an empty database)"
    )
    args = p.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.database_url:
            database_url = args.database_url
        else:
            pg = PrivatePostgres()
            stack.callback(pg.close)
            pg.start()
            database_url = pg.url
        if args.cache_url:
            cache_url = args.cache_url
        else:
            redis = PrivateRedis()
            stack.callback(redis.close)
            redis.start()
            cache_url = redis.url
        service = Gunicorn(database_url=database_url, cache_url=cache_url, workers=args.workers)
        stack.callback(service.close)
        if args.database_url:
            service.prepare(posts=None)  # an existing database: hand-written demo only if it is empty
        else:
            service.prepare(posts=args.posts)
        service.start()
        print(
            f"service: {service.url}, {args.workers} sync workers; database {database_url}; cache {cache_url}"
        )
        report = run_check(
            service.url, service.token, database_url, seconds=args.seconds, writers=args.writers
        )
        print_report(report)
        if not report.ok:
            keys = ("Error", "DETAIL", "CONTEXT", "[SQL")
            lines = service.log.read_text(errors="replace").splitlines()
            errors = list(dict.fromkeys(line.strip() for line in lines if any(k in line for k in keys)))
            print("service log, error lines:\n  " + "\n  ".join(errors[-20:]))
        return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
