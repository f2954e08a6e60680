"""Request and response schemas: they validate requests and generate the OpenAPI document.

Characters that XML 1.0 forbids (NUL, most C0 controls, lone surrogates, U+FFFE/U+FFFF) would break every
feed that shows them: free text drops them (as the content's HTML cleaning does), while URLs, slugs and
other identifiers that contain them are refused with 422, since a changed URL or name is a different one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from feedsvc.api.converters import MAX_ID
from feedsvc.feeds.yandex import GENRES
from feedsvc.models import utcnow
from feedsvc.text import MAX_URL, url_problem, xml_safe
from feedsvc.urls import WEB_SCHEMES

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STRIPPED = "characters that XML forbids (NUL, control characters) are removed"
REFUSED = "refused if it contains control characters or characters that XML forbids"


class FullMatch(validate.Regexp):
    """``Regexp`` on the whole value: re.match with ``$`` lets a trailing newline through."""

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


SLUG = FullMatch(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", error="use lowercase letters, digits and single hyphens")
HTTP_URL = {"schemes": set(WEB_SCHEMES)}
ZONE_NAME = FullMatch(r"^[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*$", error="not a time zone name")


def http_url(value: str) -> None:
    problem = url_problem(value)
    if problem:
        raise ValidationError(problem)


def published_window(value: datetime) -> None:
    """From 1970 to SCHEDULE_HORIZON_DAYS ahead: beyond that a date is a typo, and near year 1 or 9999
    converting it to UTC or to the display zone overflows."""
    horizon = current_app.config["SCHEDULE_HORIZON_DAYS"]
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValidationError(f"must lie between 1970-01-01 and {horizon} days from now") from exc
    if utc < EPOCH:
        raise ValidationError("must not be before 1970-01-01T00:00:00Z")
    if utc > utcnow() + timedelta(days=horizon):
        raise ValidationError(f"must be at most {horizon} days from now")


class CleanText(fields.String):
    """Free text: characters that XML forbids are dropped before the other rules apply."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        return xml_safe(text) if isinstance(text, str) else text


def _described(description: str, rule: str) -> dict[str, str]:
    return {"description": f"{description}; {rule}" if description else rule}


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE  # an unknown field is an error, never silently dropped


class ErrorDetail(Schema):
    status = fields.Integer(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields = fields.Dict(keys=fields.String(), metadata={"description": "problems by field name"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetail, required=True)


URL_RULE = f"absolute http(s), at most {MAX_URL} characters, no user:password@; " + REFUSED
WINDOW_RULE = "from 1970-01-01 to FEEDSVC_SCHEDULE_HORIZON_DAYS (default 366) days ahead"


class PostWrite(StrictSchema):
    """A post. Text fields drop characters that XML forbids; URLs and slugs containing them are refused."""

    title = CleanText(
        required=True, validate=validate.Length(min=1, max=500), metadata=_described("", STRIPPED)
    )
    content = CleanText(
        required=True,
        validate=validate.Length(max=500_000),
        metadata=_described("HTML, sanitized", STRIPPED),
    )
    summary = CleanText(
        allow_none=True, validate=validate.Length(max=5_000), metadata=_described("", STRIPPED)
    )
    language = fields.String(required=True, validate=validate.Length(min=2, max=16))
    categories = fields.List(
        fields.String(validate=SLUG), load_default=list, validate=validate.Length(max=20)
    )
    author = CleanText(allow_none=True, validate=validate.Length(max=200), metadata=_described("", STRIPPED))
    published_at = fields.AwareDateTime(
        format="iso",
        allow_none=True,
        validate=published_window,
        metadata={"description": f"RFC 3339 with offset; default now; {WINDOW_RULE}"},
    )
    slug = fields.String(allow_none=True, validate=[SLUG, validate.Length(max=200)])
    url = fields.Url(
        allow_none=True,
        **HTTP_URL,
        validate=http_url,
        metadata=_described("external article, if any", URL_RULE),
    )
    image_url = fields.Url(allow_none=True, **HTTP_URL, validate=http_url, metadata=_described("", URL_RULE))
    translation_of = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "id of the original", "format": "int64"},
    )
    genre = fields.String(
        validate=validate.OneOf(GENRES),
        metadata={"description": "Yandex genre: message (default), article or interview"},
    )
    aggregate = fields.Boolean(
        metadata={"description": "to the news sitemap, Yandex and hub deliveries; default true"}
    )


class PostPatch(PostWrite):
    """Every field optional; only the fields sent change."""

    title = CleanText(validate=validate.Length(min=1, max=500), metadata=_described("", STRIPPED))
    content = CleanText(
        validate=validate.Length(max=500_000), metadata=_described("HTML, sanitized", STRIPPED)
    )
    language = fields.String(validate=validate.Length(min=2, max=16))
    categories = fields.List(fields.String(validate=SLUG), validate=validate.Length(max=20))


class Translation(Schema):
    id = fields.Integer()
    language = fields.String()
    link = fields.String()


class PostOut(Schema):
    id = fields.Integer()
    guid = fields.String()
    language = fields.String()
    slug = fields.String()
    title = fields.String()
    summary = fields.String()
    content = fields.String()
    author = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    link = fields.String()
    image_url = fields.String(allow_none=True)
    image_type = fields.String(allow_none=True)
    categories = fields.List(fields.String())
    published_at = fields.DateTime(format="iso")
    updated_at = fields.DateTime(format="iso")
    created_at = fields.DateTime(format="iso")
    translation_group = fields.Integer(allow_none=True)
    translations = fields.List(fields.Nested(Translation))
    visible = fields.Boolean()
    source_id = fields.Integer(allow_none=True)
    status = fields.String(
        metadata={"description": "scheduled (published_at ahead: in no feed yet) or published"}
    )
    genre = fields.String()
    aggregate = fields.Boolean()


class PostPage(Schema):
    items = fields.List(fields.Nested(PostOut))
    next_cursor = fields.String(allow_none=True)


class PostQuery(StrictSchema):
    language = fields.String()
    category = fields.String(validate=SLUG)
    cursor = fields.String(
        validate=validate.Length(max=200), metadata={"description": "next_cursor of the previous page"}
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    status = fields.String(
        validate=validate.OneOf(("scheduled", "published")),
        metadata={"description": "only scheduled (published_at ahead) or only published posts"},
    )


NAMES_RULE = f"language → name; {STRIPPED} from names"


class CategoryWrite(StrictSchema):
    slug = fields.String(required=True, validate=[SLUG, validate.Length(max=64)])
    names = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=16)),
        values=CleanText(validate=validate.Length(min=1, max=200)),
        required=True,
        metadata={"description": NAMES_RULE},
    )


class CategoryPatch(StrictSchema):
    names = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=16)),
        values=CleanText(validate=validate.Length(min=1, max=200)),
        required=True,
        metadata={"description": NAMES_RULE},
    )


class CategoryOut(Schema):
    slug = fields.String()
    names = fields.Dict(keys=fields.String(), values=fields.String())
    posts = fields.Integer()


class SourceWrite(StrictSchema):
    """A partner feed. Its name and category terms drop characters that XML forbids; a URL or time zone
    containing them is refused."""

    url = fields.String(required=True, validate=http_url, metadata=_described("the feed", URL_RULE))
    language = fields.String(required=True, validate=validate.Length(min=2, max=16))
    category = fields.String(allow_none=True, validate=SLUG)
    category_map = fields.Dict(
        keys=CleanText(validate=validate.Length(min=1, max=200)),
        values=fields.String(validate=SLUG),
        metadata={"description": f"partner category term → our category slug; {STRIPPED} from terms"},
    )
    interval_s = fields.Integer(strict=True, validate=validate.Range(min=1, max=7 * 86400))
    syndicate = fields.Boolean(
        load_default=True, metadata={"description": "false: store only, not in our feeds"}
    )
    aggregate = fields.Boolean(
        load_default=False,
        metadata={"description": "its new items go to the news sitemap, Yandex and hub deliveries"},
    )
    name = CleanText(allow_none=True, validate=validate.Length(max=200), metadata=_described("", STRIPPED))
    timezone = fields.String(
        validate=[validate.Length(min=1, max=64), ZONE_NAME],
        metadata={"description": "zone for partner dates without one; default UTC"},
    )
    full_text = fields.Boolean(
        load_default=False,
        metadata={"description": "excerpt-only partner: fetch new items' article pages for their full text"},
    )


class SourcePatch(SourceWrite):
    url = fields.String(validate=http_url, metadata=_described("the feed", URL_RULE))
    language = fields.String(validate=validate.Length(min=2, max=16))
    syndicate = fields.Boolean()
    aggregate = fields.Boolean()
    full_text = fields.Boolean()
    enabled = fields.Boolean(metadata={"description": "true re-enables a disabled source"})


class SourceHealth(Schema):
    last_fetch_at = fields.DateTime(format="iso", allow_none=True)
    last_success_at = fields.DateTime(format="iso", allow_none=True)
    last_outcome = fields.String(allow_none=True)
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_warning = fields.String(allow_none=True)
    consecutive_errors = fields.Integer()
    next_fetch_at = fields.DateTime(format="iso")
    last_new = fields.Integer()
    last_updated = fields.Integer()
    etag = fields.String(allow_none=True)
    last_modified = fields.String(allow_none=True)
    feed_hint_s = fields.Integer(allow_none=True)
    publish_gap_s = fields.Integer(
        allow_none=True, metadata={"description": "median gap between the partner's recent items"}
    )
    leased_by = fields.String(allow_none=True)


class SourcePush(Schema):
    hub_url = fields.String(allow_none=True)
    topic_url = fields.String(allow_none=True)
    state = fields.String(
        allow_none=True, metadata={"description": "pending, active, unsubscribing or failed"}
    )
    lease_until = fields.DateTime(format="iso", allow_none=True)


class SourceOut(Schema):
    id = fields.Integer()
    url = fields.String()
    name = fields.String()
    language = fields.String()
    category = fields.String(allow_none=True)
    category_map = fields.Dict(keys=fields.String(), values=fields.String())
    timezone = fields.String()
    interval_s = fields.Integer()
    syndicate = fields.Boolean()
    aggregate = fields.Boolean()
    full_text = fields.Boolean()
    enabled = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    health = fields.Nested(SourceHealth)
    push = fields.Nested(SourcePush, metadata={"description": "WebSub: the partner's hub pushing to us"})
    items_stored = fields.Integer()
    created_at = fields.DateTime(format="iso")


MAX_FETCH_WAIT_S = 10.0  # ?wait= holds a web worker; bounded so a slow partner cannot hold it long


class FetchWaitQuery(StrictSchema):
    wait = fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=MAX_FETCH_WAIT_S),
        metadata={
            "description": f"seconds (0–{MAX_FETCH_WAIT_S:g}) to wait for the worker's outcome; default 0"
        },
    )


class FetchResultOut(Schema):
    source_id = fields.Integer()
    outcome = fields.String(
        metadata={"description": "new, updated, unchanged, error, gone, deferred or busy"}
    )
    new = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    status = fields.Integer(allow_none=True, metadata={"description": "the partner's HTTP status"})
    error = fields.String(allow_none=True)
    warning = fields.String(allow_none=True)
    elapsed_ms = fields.Integer()


class FetchStatusOut(Schema):
    source_id = fields.Integer()
    state = fields.String(
        metadata={
            "description": "queued (requested, not started), running (a worker is fetching it), "
            "done (no request pending; result is the last fetch) or never (never fetched)"
        }
    )
    requested_at = fields.DateTime(format="iso", allow_none=True, metadata={"description": "pending request"})
    fetched_at = fields.DateTime(format="iso", allow_none=True, metadata={"description": "last fetch"})
    result = fields.Nested(FetchResultOut, allow_none=True, metadata={"description": "the last fetch"})
    source = fields.Nested(SourceOut)


class SourceDeleteQuery(StrictSchema):
    purge = fields.Boolean(
        load_default=False, metadata={"description": "delete the source's stored posts too"}
    )


class ImportQuery(StrictSchema):
    language = fields.String(metadata={"description": "for outlines without a language attribute"})
    category = fields.String(validate=SLUG, metadata={"description": "for outlines without a category"})


class ImportOut(Schema):
    created = fields.List(fields.Nested(SourceOut))
    skipped = fields.List(fields.Dict())
