"""Posts as the API and the demo loader give them: validation and cleaning of every field, then the
write module (``feedsvc.write``) stores them and bumps the feeds that change.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc import text, write
from feedsvc.errors import Conflict, InvalidInput, NotFound
from feedsvc.models import Category, Post, utcnow
from feedsvc.sanitize import find_active_content, html_to_text, sanitize_html
from feedsvc.site import Site
from feedsvc.text import make_slug, summarize, xml_safe

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EDITABLE = (
    "title",
    "content",
    "summary",
    "language",
    "categories",
    "author",
    "published_at",
    "slug",
    "url",
    "image_url",
    "translation_of",
    "genre",
    "aggregate",
)


@dataclass
class PostInput:
    """Validated fields of a post as the API (or a loader) gives them; None means "not given"."""

    title: str | None = None
    content: str | None = None
    summary: str | None = None
    language: str | None = None
    categories: list[str] | None = None
    author: str | None = None
    published_at: datetime | None = None
    slug: str | None = None
    url: str | None = None
    image_url: str | None = None
    translation_of: int | None = None
    genre: str | None = None  # Yandex genre; default "message"
    aggregate: bool | None = None  # to aggregators and hub deliveries; default true
    given: frozenset[str] = frozenset()  # which fields the caller set (PATCH may set one to null)


def guess_image_type(url: str) -> str:
    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def clean_title(title: str) -> str:
    return text.clean_title(title)  # the same rule as partner titles


def _clean_optional(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(xml_safe(value).split())
    return value or None


def _categories(session: Session, slugs: Iterable[str]) -> list[Category]:
    wanted = list(dict.fromkeys(slugs))
    if not wanted:
        return []
    found = {c.slug: c for c in session.scalars(select(Category).where(Category.slug.in_(wanted)))}
    missing = [slug for slug in wanted if slug not in found]
    if missing:
        raise InvalidInput(f"unknown category: {', '.join(missing)}", field="categories")
    return [found[slug] for slug in wanted]


def _unique_slug(session: Session, language: str, base: str, exclude_id: int | None) -> str:
    """``base``, or ``base-2`` … ``base-20``, or ``base-<random>``: equality lookups on the unique index only,
    so the cost does not grow with the archive (a LIKE prefix scan did)."""
    candidates = [base] + [f"{base}-{n}" for n in range(2, 21)]
    taken = set(
        session.scalars(
            select(Post.slug).where(
                Post.language == language, Post.slug.in_(candidates), Post.id != (exclude_id or -1)
            )
        )
    )
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    return f"{base}-{secrets.token_hex(4)}"


def _check_slug_free(session: Session, language: str, slug: str, exclude_id: int | None) -> None:
    clash = session.scalar(
        select(Post.id).where(Post.language == language, Post.slug == slug, Post.id != (exclude_id or -1))
    )
    if clash is not None:
        raise Conflict(
            f"slug {slug!r} is already used by post {clash} in language {language!r}", field="slug"
        )


def _siblings(session: Session, post: Post) -> list[Post]:
    if post.translation_group is None:
        return []
    return list(
        session.scalars(
            select(Post).where(Post.translation_group == post.translation_group, Post.id != post.id)
        )
    )


def _translation_group(session: Session, post: Post, original_id: int | None) -> int | None:
    """The group ``post`` joins as a translation of ``original_id`` (filing the original in it)."""
    if original_id is None:
        return None
    original = session.get(Post, original_id)
    if original is None:
        raise InvalidInput(f"post {original_id} does not exist", field="translation_of")
    if original.id == post.id:
        raise InvalidInput("a post cannot be a translation of itself", field="translation_of")
    group = original.translation_group or original.id
    same_language = session.scalar(
        select(Post.id).where(
            Post.translation_group == group, Post.language == post.language, Post.id != (post.id or -1)
        )
    )
    if same_language is not None or original.language == post.language:
        raise Conflict(
            f"the translation group of post {original_id} already has a post in {post.language!r}",
            field="translation_of",
        )
    write.set_translation_group(session, original, group)
    return group


def _text_values(post: Post, data: PostInput) -> dict[str, Any]:
    """Cleaned values of the text fields the caller gave (a summary may follow new content)."""
    given = data.given
    values: dict[str, Any] = {}
    if "title" in given:
        if not data.title or not clean_title(data.title):
            raise InvalidInput("must not be empty", field="title")
        values["title"] = clean_title(data.title)
    for name in ("content", "summary"):
        active = find_active_content(getattr(data, name) or "") if name in given else []
        if active:
            raise InvalidInput(
                f"remove {', '.join(active)}: scripts, event handlers and script URLs are not allowed",
                field=name,
            )
    content = post.content
    if "content" in given:
        # A summary that was derived from the old content follows the new content; a written one stays.
        derived = post.content is not None and post.summary == summarize(html_to_text(post.content))
        content = values["content"] = sanitize_html(xml_safe(data.content or ""))
        if "summary" not in given and (post.summary is None or derived):
            values["summary"] = summarize(html_to_text(content))
    if "summary" in given:
        written = _clean_optional(html_to_text(data.summary)) if data.summary else None
        values["summary"] = written or summarize(html_to_text(content or ""))
    if "author" in given:
        values["author"] = _clean_optional(data.author)
    if "url" in given:
        values["url"] = data.url
    if "image_url" in given:
        values["image_url"] = data.image_url
        values["image_type"] = guess_image_type(data.image_url) if data.image_url else None
        values["image_length"] = 0
    return values


def create_post(session: Session, site: Site, data: PostInput, *, uid: str | None = None) -> Post:
    if data.language not in site.languages:
        raise InvalidInput(
            f"unknown language {data.language!r}; configured: {', '.join(site.languages)}", field="language"
        )
    categories = _categories(session, data.categories or [])
    now = utcnow()
    post = Post(
        uid=uid or str(uuid.uuid4()),
        language=data.language,
        created_at=now,
        updated_at=now,
        published_at=data.published_at.astimezone(UTC) if data.published_at else now,
        visible=True,
        image_length=0,
        content=None,
        summary=None,
        genre=data.genre or "message",
        aggregate=True if data.aggregate is None else data.aggregate,
    )
    for name, value in _text_values(
        post, PostInput(**{**data.__dict__, "given": frozenset(EDITABLE)})
    ).items():
        setattr(post, name, value)
    if data.slug:
        _check_slug_free(session, post.language, data.slug, None)
        post.slug = data.slug
    else:
        post.slug = _unique_slug(session, post.language, make_slug(post.title), None)
    post.translation_group = _translation_group(session, post, data.translation_of)
    write.add_post(session, post, categories)
    write.show_with(session, _siblings(session, post))
    return post


def update_post(session: Session, site: Site, post: Post, data: PostInput) -> Post:
    given = data.given
    old_siblings = _siblings(session, post)
    values = _text_values(post, data)
    language = post.language
    if "language" in given and data.language != post.language:
        if data.language not in site.languages:
            raise InvalidInput(f"unknown language {data.language!r}", field="language")
        language = values["language"] = data.language
        if "slug" not in given:
            _check_slug_free(session, language, post.slug, post.id)
    if "published_at" in given:
        if data.published_at is None:
            raise InvalidInput("must not be null", field="published_at")
        values["published_at"] = data.published_at.astimezone(UTC)
    for flag in ("genre", "aggregate"):
        if flag in given:
            if getattr(data, flag) is None:
                raise InvalidInput("must not be null", field=flag)
            values[flag] = getattr(data, flag)
    if "slug" in given:
        if not data.slug:
            raise InvalidInput("must not be empty", field="slug")
        _check_slug_free(session, language, data.slug, post.id)
        values["slug"] = data.slug
    if "translation_of" in given or "language" in given:
        target = data.translation_of if "translation_of" in given else _group_anchor(post, old_siblings)
        probe = Post(id=post.id, language=language)  # validated as the post will be
        values["translation_group"] = _translation_group(session, probe, target)
    categories = _categories(session, data.categories or []) if "categories" in given else None
    write.change_post(session, post, values, categories)
    write.show_with(session, old_siblings + _siblings(session, post))
    return post


def _group_anchor(post: Post, siblings: list[Post]) -> int | None:
    return siblings[0].id if siblings else None


def delete_post(session: Session, post_id: int) -> None:
    """Delete a post (a partner item's identity stays as a tombstone)."""
    if not write.delete_post(session, post_id):
        raise NotFound(f"post {post_id} does not exist")


def get_post(session: Session, post_id: int) -> Post:
    post = session.get(Post, post_id)
    if post is None:
        raise NotFound(f"post {post_id} does not exist")
    return post


def post_json(session: Session, site: Site, post: Post) -> dict[str, Any]:
    siblings = _siblings(session, post)
    return {
        "id": post.id,
        "guid": f"urn:uuid:{post.uid}",
        "language": post.language,
        "slug": post.slug,
        "title": post.title,
        "summary": post.summary,
        "content": post.content,
        "author": post.author,
        "url": post.url,
        "link": site.post_url(post.language, post.slug, post.url),
        "image_url": post.image_url,
        "image_type": post.image_type,
        "categories": [c.slug for c in post.categories],
        "published_at": post.published_at,
        "updated_at": post.updated_at,
        "created_at": post.created_at,
        "translation_group": post.translation_group,
        "translations": [
            {"id": s.id, "language": s.language, "link": site.post_url(s.language, s.slug, s.url)}
            for s in sorted(siblings, key=lambda s: s.language)
        ],
        "visible": post.visible,
        "status": "scheduled" if post.published_at > utcnow() else "published",
        "genre": post.genre,
        "aggregate": post.aggregate,
    }
