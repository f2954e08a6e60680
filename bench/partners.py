"""Local partner feeds for the ingestion benchmark: RSS 2.0 documents served on 127.0.0.1.

``/feed/<n>.xml`` is partner ``n``'s feed (0-based) with ``--items`` items of ~1–2 KB HTML each.
Bodies depend only on (partner, generation, item), so ``feed_body`` gives the very bytes the server
sends. ``GET /_generation/<g>`` switches every feed to generation ``g``: new GUIDs, new ETags, so a
pass after a switch finds only new items. A request whose If-None-Match names the current ETag gets a
304 without a body, as a well-behaved partner answers.

Run: ``python bench/partners.py --port 8123 --sources 50 --items 50`` (prints "ready" when listening).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORDS = (
    "город совет рынок отчёт школа река мост бюджет фестиваль энергия вода дорога "
    "правительство инвестиции экспорт урожай хлопок туризм выставка стадион университет "
    "больница строительство транспорт метро аэропорт граница соглашение министр хоким"
).split()
CATEGORIES = ("Экономика", "Общество", "Политика", "Спорт", "Культура", "Происшествия")
AUTHORS = ("Алишер Каримов", "Нодира Юсупова", "Дмитрий Ким", "Севара Рахимова")
EPOCH = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _content_html(rng: random.Random, n: int, j: int) -> str:
    """About 1–2 KB of the HTML a news CMS emits: paragraphs, a link, emphasis, an image, a list."""
    paragraphs = [" ".join(_sentence(rng, rng.randint(7, 12)) for _ in range(rng.randint(2, 3)))]
    paragraphs.append(
        f'{_sentence(rng, 6)} <a href="/news/related-{j}">{_sentence(rng, 3)}</a> '
        f"<strong>{_sentence(rng, 4)}</strong> {_sentence(rng, 9)}"
    )
    html = "".join(f"<p>{p}</p>" for p in paragraphs)
    html += (
        f'<figure><img src="https://partner{n}.example.uz/img/{j}.jpg" alt="{_sentence(rng, 3)}" '
        f'width="800" height="450"><figcaption>{_sentence(rng, 5)}</figcaption></figure>'
    )
    html += "<ul>" + "".join(f"<li>{_sentence(rng, 5)}</li>" for _ in range(3)) + "</ul>"
    html += f"<p><em>{_sentence(rng, 8)}</em></p>"
    return html


def feed_body(n: int, generation: int, items: int) -> bytes:
    """Partner ``n``'s RSS document in ``generation`` (deterministic)."""
    rng = random.Random(f"{n}:{generation}")
    base = f"https://partner{n}.example.uz"
    newest = EPOCH + timedelta(days=generation)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">\n'
        "<channel>\n"
        f"<title>Партнёр {n}: новости</title>\n<link>{base}/</link>\n"
        f"<description>Новости партнёра {n}</description>\n<language>ru</language>\n"
        f'<atom:link href="{base}/rss" rel="self" type="application/rss+xml"/>\n'
        f"<lastBuildDate>{format_datetime(newest, usegmt=True)}</lastBuildDate>\n<ttl>15</ttl>\n"
    ]
    for j in range(items):
        when = newest - timedelta(minutes=17 * j)
        out.append(
            "<item>\n"
            f"<title>{_sentence(rng, rng.randint(6, 10))[:-1]} {n}-{generation}-{j}</title>\n"
            f"<link>{base}/news/{generation}/{j}</link>\n"
            f'<guid isPermaLink="false">partner{n}-g{generation}-{j}</guid>\n'
            f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>\n"
            f"<dc:creator>{rng.choice(AUTHORS)}</dc:creator>\n"
            f"<category>{rng.choice(CATEGORIES)}</category>\n"
            f"<description><![CDATA[<p>{_sentence(rng, 18)}</p>]]></description>\n"
            f"<content:encoded><![CDATA[{_content_html(rng, n, j)}]]></content:encoded>\n"
            f'<enclosure url="{base}/img/{j}.jpg" type="image/jpeg" '
            f'length="{rng.randint(20_000, 90_000)}"/>\n'
            "</item>\n"
        )
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode("utf-8")


class PartnerState:
    def __init__(self, sources: int, items: int) -> None:
        self.sources = sources
        self.items = items
        self.generation = 1
        self._bodies: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()
        self.requests = 0
        self.not_modified = 0

    def body(self, n: int) -> tuple[bytes, str]:
        key = (n, self.generation)
        with self._lock:
            body = self._bodies.get(key)
            if body is None:
                body = self._bodies[key] = feed_body(n, self.generation, self.items)
        return body, f'"p{n}-g{self.generation}"'

    def warm(self) -> None:
        # Generated ahead so the timed passes measure the reader, not this server.
        for n in range(self.sources):
            self.body(n)


def make_handler(state: PartnerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path.startswith("/_generation/"):
                state.generation = int(path.rsplit("/", 1)[1])
                state.warm()
                self._send(200, f"generation {state.generation}\n".encode())
                return
            if path == "/_stats":
                self._send(200, f"{state.requests} {state.not_modified}\n".encode())
                return
            if not (path.startswith("/feed/") and path.endswith(".xml")):
                self._send(404, b"not found\n")
                return
            try:
                n = int(path[len("/feed/") : -len(".xml")])
            except ValueError:
                self._send(404, b"not found\n")
                return
            if not 0 <= n < state.sources:
                self._send(404, b"not found\n")
                return
            state.requests += 1
            body, etag = state.body(n)
            if self.headers.get("If-None-Match", "").strip() == etag:
                state.not_modified += 1
                self._send(304, headers={"ETag": etag})
                return
            self._send(200, body, {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag})

        do_HEAD = do_GET

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args(argv)
    state = PartnerState(args.sources, args.items)
    state.warm()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state))
    server.daemon_threads = True
    print("ready", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
