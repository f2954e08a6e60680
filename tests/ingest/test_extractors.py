"""Main-text extractors compared on saved article pages (Russian, Uzbek, English) wrapped in the
boilerplate news sites put around them: trafilatura, which full-text fetching uses, keeps every
sentence of the article and none of the navigation, sidebar, comments, footer or the "read also"
block inside the article body; readability-lxml (when installed) keeps that block."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedsvc.ingest.stages.fulltext import extract
from feedsvc.sanitize import html_to_text

ARTICLES = Path(__file__).resolve().parent.parent / "fixtures" / "articles"
MANIFEST = json.loads((ARTICLES / "articles.json").read_text(encoding="utf-8"))


def score(text: str, expected: dict) -> tuple[float, list[str]]:
    recall = sum(s in text for s in expected["sentences"]) / len(expected["sentences"])
    return recall, [b for b in expected["boilerplate"] if b in text]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_trafilatura_keeps_the_article_and_only_it(name: str) -> None:
    html = extract((ARTICLES / name).read_text(encoding="utf-8"), "https://partner.example/article")
    assert html is not None
    assert "<script" not in html and "<form" not in html and "<input" not in html
    recall, leaked = score(html_to_text(html), MANIFEST[name])
    assert (recall, leaked) == (1.0, [])


def test_readability_does_worse_on_the_same_pages() -> None:
    readability = pytest.importorskip("readability")
    results = {}
    for name, expected in MANIFEST.items():
        page = (ARTICLES / name).read_text(encoding="utf-8")
        summary = readability.Document(page).summary(html_partial=True)
        results[name] = score(html_to_text(summary), expected)
    # Every sentence, but the "read also" link inside the article body too.
    assert all(recall == 1.0 for recall, _ in results.values())
    assert sum(len(leaked) for _, leaked in results.values()) >= len(MANIFEST)
