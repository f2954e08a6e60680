"""Feed scopes: the whole site, one language, or one category in one language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

# A language code or category slug as it may appear in a path; anything else names nothing.
SEGMENT = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class Scope:
    language: str | None = None
    category: str | None = None  # category slug; only with a language

    @property
    def key(self) -> str:
        """Row key in ``feed_states``: "*", "ru" or "ru/events"."""
        if self.language is None:
            return "*"
        return self.language if self.category is None else f"{self.language}/{self.category}"

    @property
    def path(self) -> str:
        """URL path prefix of the scope's pages and feeds, with trailing slash."""
        if self.language is None:
            return "/"
        return f"/{self.language}/" if self.category is None else f"/{self.language}/{self.category}/"


def scopes_for(language: str, category_slugs: list[str] | tuple[str, ...]) -> set[str]:
    """Every scope key that shows a post in ``language`` filed under ``category_slugs``."""
    keys = {"*", language}
    keys.update(f"{language}/{slug}" for slug in category_slugs)
    return keys


# Derived scopes, bumped by the write path along with the feed scope they follow:
# "<lang>#reach" / "#reach": the aggregator documents (news sitemap, Yandex) of one or all languages,
# which also change as time moves posts out of their windows; "<scope>#archive": the scope's archive
# pages, which change only when a post that may sit in them changes.
REACH = "#reach"
ARCHIVE = "#archive"


# A Google News sitemap lists the posts of the last two days; every reach scope is also bumped at least
# this often, so age windows (Yandex) move on although no post changed.
NEWS_WINDOW = timedelta(hours=48)
REACH_TICK = timedelta(hours=1)


def reach_scope(language: str | None) -> str:
    return f"{language}{REACH}" if language else REACH


def archive_scope(scope_key: str) -> str:
    return f"{scope_key}{ARCHIVE}"


def is_feed_scope(key: str) -> bool:
    return "#" not in key and key != OPML_SCOPE


# The feed list (/feeds.opml) has a version of its own: it changes when categories do.
OPML_SCOPE = "opml"

# The slug rule of languages, categories and posts; anything else in a public path is no page.
_SEGMENT = SEGMENT
MAX_SEGMENT = 200  # the longest slug a post may have
MAX_CATEGORY_SLUG = 64


def valid_segment(value: str | None, max_length: int = MAX_SEGMENT) -> bool:
    """Whether ``value`` can name a language, category or post: checked before any query, since
    PostgreSQL refuses NUL in a parameter and no stored slug has junk in it."""
    return value is not None and len(value) <= max_length and _SEGMENT.fullmatch(value) is not None


def scope_of(key: str) -> Scope:
    if key == "*":
        return Scope()
    language, _, category = key.partition("/")
    return Scope(language, category or None)
