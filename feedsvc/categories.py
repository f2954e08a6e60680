"""Writing categories; every change bumps the feeds that show the category's name or posts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc import feedstate
from feedsvc.errors import Conflict, InvalidInput, NotFound
from feedsvc.models import Category, PostCategory, utcnow
from feedsvc.site import Site
from feedsvc.text import xml_safe

# Path segments the public URLs already use; a category by these names could never be reached.
RESERVED = {"posts", "api", "feed", "feeds", "static", "healthz", "readyz"}


def _names(site: Site, names: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(names) - set(site.languages))
    if unknown:
        raise InvalidInput(f"unknown language(s): {', '.join(unknown)}", field="names")
    clean = {lang: " ".join(xml_safe(name).split()) for lang, name in names.items()}
    empty = [lang for lang, name in clean.items() if not name]
    if empty:
        raise InvalidInput(f"empty name for {', '.join(empty)}", field="names")
    if not clean:
        raise InvalidInput("give a name in at least one language", field="names")
    return clean


def _all_scopes(site: Site, slug: str) -> set[str]:
    return {f"{lang}/{slug}" for lang in site.languages}


def get_category(session: Session, slug: str) -> Category:
    category = session.scalar(select(Category).where(Category.slug == slug))
    if category is None:
        raise NotFound(f"category {slug!r} does not exist")
    return category


def create_category(session: Session, site: Site, slug: str, names: dict[str, str]) -> Category:
    if slug in RESERVED:
        raise InvalidInput(f"{slug!r} is reserved by the site's URLs", field="slug")
    if session.scalar(select(Category.id).where(Category.slug == slug)) is not None:
        raise Conflict(f"category {slug!r} already exists", field="slug")
    category = Category(slug=slug, names=_names(site, names))
    session.add(category)
    session.flush()
    feedstate.bump(session, _all_scopes(site, slug))
    return category


def _languages_used(session: Session, category: Category) -> set[str]:
    return set(
        session.scalars(
            select(PostCategory.language).where(PostCategory.category_id == category.id).distinct()
        )
    )


def rename_category(session: Session, site: Site, category: Category, names: dict[str, str]) -> Category:
    category.names = {**category.names, **_names(site, names)}
    category.updated_at = utcnow()
    # Item categories carry the label in every feed that shows the category's posts.
    languages = _languages_used(session, category)
    feedstate.bump(session, _all_scopes(site, category.slug) | languages | ({"*"} if languages else set()))
    return category


def delete_category(session: Session, site: Site, category: Category) -> None:
    languages = _languages_used(session, category)
    feedstate.forget(session, _all_scopes(site, category.slug))
    feedstate.bump(session, languages | ({"*"} if languages else set()))
    session.delete(category)
    session.flush()
