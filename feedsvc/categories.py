"""Categories as the API gives them: validated names, then the write module stores them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc import write
from feedsvc.errors import Conflict, InvalidInput, NotFound
from feedsvc.models import Category
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
    return write.add_category(session, site.languages, Category(slug=slug, names=_names(site, names)))


def rename_category(session: Session, site: Site, category: Category, names: dict[str, str]) -> Category:
    return write.rename_category(session, site.languages, category, {**category.names, **_names(site, names)})


def delete_category(session: Session, site: Site, slug: str) -> None:
    if not write.delete_category(session, site.languages, slug):
        raise NotFound(f"category {slug!r} does not exist")
