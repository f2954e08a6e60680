"""HTML pages: the feed directory, newest posts per language and category, and our own posts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, Response, redirect, render_template, request
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from feedsvc import db
from feedsvc.api import error_response
from feedsvc.errors import NotFound, ServiceError, Unavailable
from feedsvc.feedquery import load_items
from feedsvc.feeds import FORMATS
from feedsvc.feeds.opml import OpmlOutline, render_opml
from feedsvc.models import Category, Post, utcnow
from feedsvc.scopes import MAX_CATEGORY_SLUG, Scope, valid_segment
from feedsvc.site import Site, site

log = logging.getLogger(__name__)
bp = Blueprint("pages", __name__)

PAGE_SIZE = 30
# The database cannot be reached (down, restarting, pool exhausted): a 503 page, not a 500.
DATABASE_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
DATABASE_RETRY_AFTER = 30

ERROR_TEXTS: dict[str, dict[int, tuple[str, str]]] = {
    "en": {
        400: ("Bad request", "The address could not be understood."),
        404: ("Page not found", "There is no page at this address."),
        503: ("Temporarily unavailable", "The site is briefly unavailable. Please try again in a minute."),
    },
    "ru": {
        400: ("Неверный запрос", "Адрес не удалось разобрать."),
        404: ("Страница не найдена", "По этому адресу страницы нет."),
        503: ("Временно недоступно", "Сайт ненадолго недоступен. Попробуйте через минуту."),
    },
    "uz": {
        400: ("Noto‘g‘ri so‘rov", "Manzilni tushunib bo‘lmadi."),
        404: ("Sahifa topilmadi", "Bu manzilda sahifa yo‘q."),
        503: ("Vaqtincha ishlamayapti", "Sayt qisqa vaqt ishlamayapti. Bir daqiqadan so‘ng urinib ko‘ring."),
    },
}


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
                    "name": c.name_in(lang),
                    "scope": Scope(lang, c.slug),
                    "feeds": feed_links(
                        the_site, Scope(lang, c.slug), f"{the_site.name} — {c.name_in(lang)}"
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


# Explicit slash redirects: werkzeug's own take their Location from the Host header, which a client
# chooses; these name the configured BASE_URL.
@bp.get("/<lang>")
def language_redirect(lang: str) -> Response:
    return _canonical(Scope(lang))


@bp.get("/<lang>/<category>")
def category_redirect(lang: str, category: str) -> Response:
    return _canonical(Scope(lang, category))


def _canonical(scope: Scope) -> Response:
    _check_scope(site(), scope)
    return redirect(site().url(scope.path), code=308)


def _check_scope(the_site: Site, scope: Scope) -> None:
    """Refuse what can name no page before any query (PostgreSQL refuses NUL in a parameter)."""
    if scope.language not in the_site.languages:
        raise NotFound("unknown language")
    if scope.category is not None and not valid_segment(scope.category, MAX_CATEGORY_SLUG):
        raise NotFound("no such category")


def _listing(scope: Scope) -> str:
    the_site = site()
    _check_scope(the_site, scope)
    assert scope.language is not None
    title = f"{the_site.name} — {the_site.language_name(scope.language)}"
    category_id = None
    if scope.category is not None:
        cat = db.session().scalar(select(Category).where(Category.slug == scope.category))
        if cat is None:
            raise NotFound(f"unknown category {scope.category!r}")
        category_id, title = cat.id, f"{the_site.name} — {cat.name_in(scope.language)}"
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
    if lang not in the_site.languages or not valid_segment(slug):
        raise NotFound("no such post")
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


@bp.get("/feeds.opml")
def opml() -> Response:
    the_site = site()
    outlines: list[OpmlOutline] = []
    for entry in [{"scope": Scope(), "name": None, "categories": []}, *_directory(the_site)]:
        groups = [(entry["scope"], entry["name"], None)] + [
            (c["scope"], c["name"], c["slug"]) for c in entry["categories"]
        ]
        for scope, name, slug in groups:
            title = the_site.name if scope.language is None else f"{the_site.name} — {name}"
            for writer in FORMATS.values():
                outlines.append(
                    OpmlOutline(
                        text=f"{title} ({writer.name})",
                        title=f"{title} ({writer.name})",
                        xml_url=the_site.url(f"{scope.path}feed.{writer.suffix}"),
                        html_url=the_site.url(scope.path),
                        language=scope.language,
                        category=f"/{slug}" if slug else None,
                    )
                )
    body = render_opml(f"{the_site.name} feeds", utcnow(), outlines, owner_name=the_site.name)
    return Response(body, content_type="text/x-opml; charset=utf-8")


@bp.app_template_filter("local_time")
def local_time(moment: datetime) -> str:
    """A stored time in the site's zone; at the calendar's ends (a stored 9999-12-31T23:59Z) the shift
    would overflow, so such a time shows in UTC: no date may break a page."""
    try:
        return moment.astimezone(site().zone).strftime("%Y-%m-%d %H:%M")
    except OverflowError:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def error_page(status: int, retry_after: int | None = None) -> Response:
    """An error as a page of the site, in the language of the path when it names one."""
    if request.path == "/api" or request.path.startswith("/api/"):
        # An API path no API route took (/api/posts/-1 fits /<lang>/posts/<slug>): the API answers JSON.
        return error_response(status, "not_found", "no such API endpoint")
    the_site = site()
    lang = (request.view_args or {}).get("lang")
    language = lang if lang in the_site.languages else None
    texts = ERROR_TEXTS.get(language or "en", ERROR_TEXTS["en"])
    title, message = texts.get(status) or texts[400 if status < 500 else 503]
    body = render_template(
        "error.html", site=the_site, language=language, feeds=[], title=title, message=message, status=status
    )
    response = Response(body, status=status, content_type="text/html; charset=utf-8")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> Response:
    retry = error.retry_after if isinstance(error, Unavailable) else None
    return error_page(error.status, retry)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if 400 <= status < 500 or status == 503:
        return error_page(status)
    return error  # type: ignore[return-value]


def _database_down(error: Exception) -> Response:
    log.warning("database unavailable on %s: %s", request.path, error)
    try:
        db.session().rollback()
    except Exception:  # the connection is gone; nothing to roll back
        log.debug("rollback after a database error failed", exc_info=True)
    return error_page(503, DATABASE_RETRY_AFTER)


for _down in DATABASE_DOWN:
    bp.register_error_handler(_down, _database_down)
