"""Request and response schemas: they validate requests and generate the OpenAPI document."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from feedsvc.urls import WEB_SCHEMES

SLUG = validate.Regexp(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$", error="use lowercase letters, digits and single hyphens"
)
HTTP_URL = {"schemes": set(WEB_SCHEMES)}


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


class PostWrite(StrictSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=500))
    content = fields.String(required=True, validate=validate.Length(max=500_000))
    summary = fields.String(allow_none=True, validate=validate.Length(max=5_000))
    language = fields.String(required=True, validate=validate.Length(min=2, max=16))
    categories = fields.List(
        fields.String(validate=SLUG), load_default=list, validate=validate.Length(max=20)
    )
    author = fields.String(allow_none=True, validate=validate.Length(max=200))
    published_at = fields.AwareDateTime(
        format="iso", allow_none=True, metadata={"description": "RFC 3339 with offset; default now"}
    )
    slug = fields.String(allow_none=True, validate=[SLUG, validate.Length(max=200)])
    url = fields.Url(allow_none=True, **HTTP_URL, metadata={"description": "external article, if any"})
    image_url = fields.Url(allow_none=True, **HTTP_URL)
    translation_of = fields.Integer(
        allow_none=True, strict=True, metadata={"description": "id of the original"}
    )


class PostPatch(PostWrite):
    """Every field optional; only the fields sent change."""

    title = fields.String(validate=validate.Length(min=1, max=500))
    content = fields.String(validate=validate.Length(max=500_000))
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


class PostPage(Schema):
    items = fields.List(fields.Nested(PostOut))
    next_cursor = fields.String(allow_none=True)


class PostQuery(StrictSchema):
    language = fields.String()
    category = fields.String(validate=SLUG)
    cursor = fields.String()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CategoryWrite(StrictSchema):
    slug = fields.String(required=True, validate=[SLUG, validate.Length(max=64)])
    names = fields.Dict(
        keys=fields.String(), values=fields.String(validate=validate.Length(min=1, max=200)), required=True
    )


class CategoryPatch(StrictSchema):
    names = fields.Dict(
        keys=fields.String(), values=fields.String(validate=validate.Length(min=1, max=200)), required=True
    )


class CategoryOut(Schema):
    slug = fields.String()
    names = fields.Dict(keys=fields.String(), values=fields.String())
    posts = fields.Integer()


class SourceWrite(StrictSchema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    language = fields.String(required=True, validate=validate.Length(min=2, max=16))
    category = fields.String(allow_none=True, validate=SLUG)
    category_map = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.String(validate=SLUG),
        metadata={"description": "partner category term → our category slug"},
    )
    interval_s = fields.Integer(strict=True, validate=validate.Range(min=1, max=7 * 86400))
    syndicate = fields.Boolean(
        load_default=True, metadata={"description": "false: store only, not in our feeds"}
    )
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    timezone = fields.String(metadata={"description": "zone for partner dates without one; default UTC"})
    full_text = fields.Boolean(
        load_default=False,
        metadata={"description": "excerpt-only partner: fetch new items' article pages for their full text"},
    )


class SourcePatch(SourceWrite):
    url = fields.String(validate=validate.Length(min=1, max=2000))
    language = fields.String(validate=validate.Length(min=2, max=16))
    syndicate = fields.Boolean()
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
    full_text = fields.Boolean()
    enabled = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    health = fields.Nested(SourceHealth)
    push = fields.Nested(SourcePush, metadata={"description": "WebSub: the partner's hub pushing to us"})
    items_stored = fields.Integer()
    created_at = fields.DateTime(format="iso")


class FetchOut(Schema):
    source_id = fields.Integer()
    outcome = fields.String(
        metadata={"description": "new, updated, unchanged, error, gone, deferred or busy"}
    )
    new = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    status = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    warning = fields.String(allow_none=True)
    elapsed_ms = fields.Integer()
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
