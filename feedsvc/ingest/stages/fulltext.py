"""Full text for excerpt-only partners: fetch the article page, keep its main text.

The page comes through the same guarded fetcher as feeds (SSRF guard, size and time limits), the
main text is found by trafilatura (it keeps a "read also" block inside the article out, where
readability-lxml kept it: tests/ingest/test_extractors.py), and the result is sanitized like any
partner HTML. Any failure keeps the item as the feed gave it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace

from feedsvc.ingest.item import ParsedItem
from feedsvc.ingest.stages.clean import clean_partner_html, fragment_to_text
from feedsvc.ingest.stages.decode import decode
from feedsvc.ingest.stages.fetch import ACCEPT_HTML, FetchSettings, fetch

log = logging.getLogger(__name__)
_BODY_RE = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)
_H1_RE = re.compile(r"^\s*<h1[^>]*>.*?</h1>", re.DOTALL | re.IGNORECASE)


def is_excerpt(item: ParsedItem, min_chars: int) -> bool:
    """Whether the feed gave only a short excerpt of an article it links to."""
    return bool(item.link) and len(fragment_to_text(item.content_html or item.summary_html)) < min_chars


def extract(page: str, url: str) -> str | None:
    """The main text of an article page as sanitized HTML, or None when none is found."""
    import trafilatura  # imported when needed: most sources never use it

    found = trafilatura.extract(
        page,
        url=url,
        output_format="html",
        include_comments=False,
        include_images=True,
        include_links=True,
        favor_precision=True,
    )
    if not found:
        return None
    match = _BODY_RE.search(found)
    inner = _H1_RE.sub("", match.group(1) if match else found, count=1)  # the title is shown already
    cleaned = clean_partner_html(inner, url)
    return cleaned or None


def with_full_text(item: ParsedItem, settings: FetchSettings) -> ParsedItem:
    """``item`` with its article's main text as content and the excerpt as summary; else ``item``."""
    if not item.link:
        return item
    try:
        fetched = fetch(item.link, settings=settings, accept=ACCEPT_HTML)
        if fetched.outcome != "ok" or "html" not in (fetched.content_type or "text/html").lower():
            return item
        text = extract(decode(fetched.body, fetched.content_type).text, fetched.final_url)
    except Exception:  # a page no extractor can read leaves the excerpt in place
        log.info("full text of %s could not be extracted", item.link, exc_info=True)
        return item
    excerpt = item.summary_html or item.content_html
    if not text or len(fragment_to_text(text)) <= len(fragment_to_text(excerpt)):
        return item
    # content_hash stays the feed's: the next fetch of an unchanged excerpt is no update.
    return replace(item, content_html=text, summary_html=excerpt)
