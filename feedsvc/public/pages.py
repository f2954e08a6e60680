"""HTML pages: the feed directory, newest posts per language and category, and our own posts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, Response, redirect, render_template, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from feedsvc import db
from feedsvc.api import error_response
from feedsvc.errors import NotFound, ServiceError, Unavailable
from feedsvc.feedquery import load_items
from feedsvc.feeds import FORMATS
from feedsvc.models import Category, Post, utcnow
from feedsvc.scopes import MAX_CATEGORY_SLUG, Scope, valid_segment
from feedsvc.site import Site, site

log = logging.getLogger(__name__)
bp = Blueprint("pages", __name__)

PAGE_SIZE = 30
# The database cannot be reached (down, restarting, pool exhausted): a 503 page, not a 500.

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
    if lang not in the_site.languages or not valid_segment(slug):
        raise NotFound("no such post")
    post = db.session().scalar(
        select(Post).where(
            Post.language == lang, Post.slug == slug, Post.visible, Post.published_at <= utcnow()
        )
    )
    if post is None or post.url:
        raise NotFound(f"no post {slug!r} in {lang!r}")
    return render_template(
        "post.html",
        site=the_site,
        language=lang,
        post=post,
        feeds=feed_links(the_site, Scope(lang), the_site.name),
    )


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


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    """The database failing under a page is a 503 page; anything else is a defect, logged."""
    try:
        db.session().rollback()
    except Exception:  # the connection is gone; nothing to roll back
        log.debug("rollback after a database error failed", exc_info=True)
    if db.is_outage(error):
        database = db.database()
        database.failed(error)
        return error_page(503, database.retry_after())
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_page(500)


bp.before_request(db.guard_request)
bp.teardown_request(db.end_request_deadline)
