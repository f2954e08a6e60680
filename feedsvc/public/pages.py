"""HTML pages: the feed directory, newest posts per language and category, and our own posts."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template
from sqlalchemy import select

from feedsvc import db
from feedsvc.errors import NotFound
from feedsvc.feedquery import load_items
from feedsvc.feeds import FORMATS
from feedsvc.models import Category, Post
from feedsvc.scopes import Scope
from feedsvc.site import Site, site

bp = Blueprint("pages", __name__)

PAGE_SIZE = 30


@dataclass(frozen=True)
class FeedLink:
    title: str
    fmt: str
    url: str
    content_type: str


def feed_links(the_site: Site, scope: Scope, title: str) -> list[FeedLink]:
    return [
        FeedLink(
            f"{title} ({w.name.upper() if w.name != 'json' else 'JSON Feed'})",
            w.name,
            the_site.url(f"{scope.path}feed.{w.suffix}"),
            w.content_type.split(";")[0],
        )
        for w in FORMATS.values()
    ]


def _categories() -> list[Category]:
    return list(db.session().scalars(select(Category).order_by(Category.slug)))


def _directory(the_site: Site) -> list[dict]:  # type: ignore[type-arg]
    cats = _categories()
    return [
        {
            "language": lang,
            "name": the_site.language_name(lang),
            "scope": Scope(lang),
            "feeds": feed_links(the_site, Scope(lang), f"{the_site.name} — {the_site.language_name(lang)}"),
            "categories": [
                {
                    "slug": c.slug,
                    "name": the_site.category_label(c.names, lang, c.slug),
                    "scope": Scope(lang, c.slug),
                    "feeds": feed_links(
                        the_site,
                        Scope(lang, c.slug),
                        the_site.title(lang, the_site.category_label(c.names, lang, c.slug)),
                    ),
                }
                for c in cats
            ],
        }
        for lang in the_site.languages
    ]


@bp.get("/")
def index() -> str:
    the_site = site()
    return render_template(
        "index.html",
        site=the_site,
        language=None,
        feeds=feed_links(the_site, Scope(), the_site.name),
        directory=_directory(the_site),
    )


@bp.get("/<lang>/")
def language_page(lang: str) -> str:
    return _listing(Scope(lang))


@bp.get("/<lang>/<category>/")
def category_page(lang: str, category: str) -> str:
    return _listing(Scope(lang, category))


def _listing(scope: Scope) -> str:
    the_site = site()
    if scope.language not in the_site.languages:
        raise NotFound(f"unknown language {scope.language!r}")
    title = f"{the_site.name} — {the_site.language_name(scope.language)}"
    category_id = None
    if scope.category is not None:
        cat = db.session().scalar(select(Category).where(Category.slug == scope.category))
        if cat is None:
            raise NotFound(f"unknown category {scope.category!r}")
        category_id = cat.id
        title = the_site.title(scope.language, the_site.category_label(cat.names, scope.language, cat.slug))
    items = load_items(db.session().connection(), the_site, scope, PAGE_SIZE, category_id)
    return render_template(
        "listing.html",
        site=the_site,
        language=scope.language,
        title=title,
        items=items,
        feeds=feed_links(the_site, scope, title),
    )


@bp.get("/<lang>/posts/<slug>")
def post_page(lang: str, slug: str) -> str:
    the_site = site()
    post = db.session().scalar(select(Post).where(Post.language == lang, Post.slug == slug, Post.visible))
    if post is None or post.url:
        raise NotFound(f"no post {slug!r} in {lang!r}")
    return render_template(
        "post.html",
        site=the_site,
        language=lang,
        post=post,
        feeds=feed_links(the_site, Scope(lang), the_site.name),
    )
