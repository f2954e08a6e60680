"""Ingest a corpus of saved feeds and say how faithfully their items were kept.

Every feed under tests/fixtures/partners/ (recursively) and under any folders given on the command
line gets a source of its own; its bytes go through the ingestion stages (``reader.parse_feed``) and
the store (``service.store.store_items``, which writes through ``feedsvc.write``), exactly as a fetch
would, without the network. Printed:

* files, and files the parser refused;
* items stored, and items lost against feedparser's own reading (``len(feedparser.parse(body).entries)``);
* empty titles, and titles that fell back to a URL;
* suspected mojibake in stored titles and summaries: U+FFFD, or UTF-8 read as a single-byte code
  page (``Ð°``, ``Ã©``, ``â€™``, ``Р°``-like pairs);
* media: enclosures / media:content / media:thumbnail / JSON Feed attachments and images in the raw
  feeds against media stored.
  Stored: the item's enclosures (``post_enclosures``) plus its image when that is not one of them;
* files per second.

``--database-url`` picks the database (default: a fresh SQLite file); the sources it creates are
purged at the end unless ``--keep``.

    python bench/corpus.py [FOLDER ...] [--database-url postgresql://…/db]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import feedparser
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feedsvc import create_app, db  # noqa: E402
from feedsvc.ingest import ParseError  # noqa: E402
from feedsvc.ingest.reader import parse_feed  # noqa: E402
from feedsvc.ingest.service.sources import delete_source  # noqa: E402
from feedsvc.ingest.service.store import store_items  # noqa: E402
from feedsvc.ingest.stages.decode import decode  # noqa: E402
from feedsvc.migrate import upgrade  # noqa: E402
from feedsvc.models import Post, PostEnclosure, Source, utcnow  # noqa: E402

DEFAULT = ROOT / "tests" / "fixtures" / "partners"
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".json"}
NOT_FEEDS = {"manifest.json"}
# UTF-8 read as latin-1/windows-1252 ("Ð°", "Ã©", "â€™") or as windows-1251 ("Р°", "РЎ").
MOJIBAKE_RE = re.compile(
    r"\ufffd|[ÐÑ][\u0080-\u00bf]|Ã[\u0080-\u00bf]|â€|Р[ЃЎЈ‚„…†‡€‰Љ‹ЊЌЋЏђ‘’“”•–—™љ›њќћџ°±]"
)
MEDIA_RE = re.compile(r"<(?:enclosure|media:content|media:thumbnail)\b", re.IGNORECASE)


@dataclass
class Totals:
    files: int = 0
    refused: list[str] = field(default_factory=list)
    stored: int = 0
    feedparser_entries: int = 0
    lost: int = 0
    lost_files: list[str] = field(default_factory=list)
    refused_entries: int = 0
    beyond: int = 0  # items stored that feedparser's reading does not have
    feedparser_crashed: list[str] = field(default_factory=list)
    empty_titles: int = 0
    url_titles: int = 0
    mojibake: int = 0
    mojibake_samples: list[str] = field(default_factory=list)
    source_media: int = 0
    stored_media: int = 0
    seconds: float = 0.0


def feed_files(folders: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for folder in folders:
        found += sorted(
            p
            for p in folder.rglob("*")
            if p.is_file() and p.suffix in FEED_SUFFIXES and p.name not in NOT_FEEDS
        )
    return found


def content_types() -> dict[Path, str]:
    """How the encoding fixtures are served (their manifest says), so labels count as in production."""
    manifest = DEFAULT / "encodings" / "manifest.json"
    if not manifest.exists():
        return {}
    return {manifest.parent / c["file"]: c["content_type"] for c in json.loads(manifest.read_text("utf-8"))}


def reference_count(body: bytes, path: Path) -> int | None:
    """Entries feedparser reads with anything in them (id, title, link or text): for JSON Feed, which
    feedparser does not read, the items of its list. None when feedparser raises."""
    if path.suffix == ".json":
        try:
            items = json.loads(body).get("items")
        except (ValueError, AttributeError):
            return 0
        return len(items) if isinstance(items, list) else 0
    try:
        entries = feedparser.parse(body).entries
    except Exception:  # feedparser itself gives up (e.g. on &#xD800;): it reads nothing
        return None
    return sum(1 for e in entries if any(e.get(k) for k in ("id", "title", "link", "summary")))


def raw_media(body: bytes, content_type: str) -> int:
    text = decode(body, content_type).text
    if text.lstrip()[:1] == "{":
        try:
            items = json.loads(text).get("items") or []
            return sum(len(i.get("attachments") or []) + bool(i.get("image")) for i in items)
        except (ValueError, AttributeError, TypeError):
            return 0
    return len(MEDIA_RE.findall(text))


def run(folders: list[Path], database_url: str | None, keep: bool) -> Totals:
    config: dict[str, object] = {"LANGUAGES": "en,ru,uz"}
    if database_url:
        config["DATABASE_URL"] = database_url
    else:
        config["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='corpus-')}/corpus.sqlite3"
    app = create_app(config)
    upgrade(app.extensions["feedsvc.engine"])
    labels = content_types()
    totals = Totals()
    files = feed_files(folders)
    created: list[int] = []
    started = time.perf_counter()
    with app.app_context(), db.new_session() as session:
        for n, path in enumerate(files):
            body = path.read_bytes()
            content_type = labels.get(path, "application/json" if path.suffix == ".json" else "text/xml")
            totals.files += 1
            now = utcnow()
            url = f"https://corpus.invalid/{n}/{path.name}"
            source = Source(
                url=url, name=path.name[:200], host="corpus.invalid", language="ru", category_map={},
                timezone="UTC", interval_s=900, syndicate=False, enabled=False, next_fetch_at=now,
                consecutive_errors=0, last_new=0, last_updated=0, created_at=now, updated_at=now,
            )  # fmt: skip
            session.add(source)
            session.flush()
            created.append(source.id)
            expected = reference_count(body, path)
            if expected is None:
                totals.feedparser_crashed.append(path.name)
                expected = 0
            totals.feedparser_entries += expected
            totals.source_media += raw_media(body, content_type)
            try:
                parsed = parse_feed(body, {"content-type": content_type}, url, now=now)
            except ParseError as exc:
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                totals.refused.append(f"{shown}: {exc}")
                session.commit()
                totals.refused_entries += expected  # refused on purpose (entity tricks): not "lost"
                continue
            counts = store_items(session, source, parsed.items, now)
            session.commit()
            totals.stored += counts.new
            if counts.new < expected:
                totals.lost += expected - counts.new
                totals.lost_files.append(f"{path.name}: {counts.new} of {expected}")
            totals.beyond += max(0, counts.new - expected)
            files = dict(
                session.execute(
                    select(PostEnclosure.post_id, func.count())
                    .join(Post, Post.id == PostEnclosure.post_id)
                    .where(Post.source_id == source.id)
                    .group_by(PostEnclosure.post_id)
                ).all()
            )
            for post_id, title, summary, image in session.execute(
                select(Post.id, Post.title, Post.summary, Post.image_url).where(Post.source_id == source.id)
            ):
                totals.empty_titles += not title.strip()
                totals.url_titles += title.startswith(("http://", "https://"))
                if MOJIBAKE_RE.search(title) or MOJIBAKE_RE.search(summary):
                    totals.mojibake += 1
                    if len(totals.mojibake_samples) < 5:
                        totals.mojibake_samples.append(f"{path.name}: {title[:60]!r}")
                totals.stored_media += files.get(post_id, 0) or (image is not None)
        totals.seconds = time.perf_counter() - started
        if not keep:
            for source_id in created:
                source = session.get(Source, source_id)
                if source is not None:
                    delete_source(session, source, purge=True)
            session.commit()
    app.extensions["feedsvc.engine"].dispose()
    return totals


def report(totals: Totals, backend: str) -> None:
    rate = totals.files / totals.seconds if totals.seconds else 0.0
    print(f"corpus on {backend}  ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    print(f"  files                 {totals.files}  (refused as not a feed: {len(totals.refused)})")
    print(f"  items stored          {totals.stored}  (feedparser reads {totals.feedparser_entries})")
    print(
        f"  items lost            {totals.lost}  (stored beyond feedparser's reading: {totals.beyond};"
        f" in refused documents: {totals.refused_entries})"
    )
    if totals.feedparser_crashed:
        print(f"  feedparser raised on  {', '.join(totals.feedparser_crashed)}")
    print(f"  empty titles          {totals.empty_titles}  (URL as the title: {totals.url_titles})")
    print(f"  suspected mojibake    {totals.mojibake}")
    print(f"  media kept            {totals.stored_media} media files stored (enclosures, else the image);"
          f" the source feeds have {totals.source_media} media elements (enclosure, media:content/thumbnail,"
          " JSON attachments/image)")  # fmt: skip
    print(f"  files/s               {rate:.1f}  ({totals.seconds:.2f} s)")
    for line in totals.refused:
        print(f"    refused: {line}")
    for line in totals.lost_files:
        print(f"    lost: {line}")
    for line in totals.mojibake_samples:
        print(f"    mojibake: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, help="more folders of saved feeds")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the sources and posts it creates")
    args = parser.parse_args()
    folders = [DEFAULT, *args.folders]
    totals = run(folders, args.database_url, args.keep)
    backend = (args.database_url or "sqlite").split(":", 1)[0]
    report(totals, backend)


if __name__ == "__main__":
    main()
