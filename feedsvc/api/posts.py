"""/api/posts: create, list, read, edit and delete posts."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import and_, or_, select

from feedsvc import db, write
from feedsvc.api.auth import require
from feedsvc.api.converters import MAX_ID
from feedsvc.api.schemas import PostOut, PostPage, PostPatch, PostQuery, PostWrite
from feedsvc.errors import InvalidInput
from feedsvc.models import Category, Post, PostCategory, utcnow
from feedsvc.posts import PostInput, create_post, delete_post, get_post, post_json, update_post
from feedsvc.site import site

blp = Blueprint("posts", __name__, url_prefix="/api/posts", description="Posts in every language")
SECURITY = [{"bearerAuth": []}]


def to_input(data: dict[str, Any]) -> PostInput:
    return PostInput(**data, given=frozenset(data))


def _encode_cursor(post: Post) -> str:
    raw = f"{post.published_at.isoformat()}|{post.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Strictly the shape _encode_cursor writes: a UTC time and an id in range. Any such position is a
    harmless one, so cursors need no signature; anything else would reach the query as junk."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        when_text, sep, ident_text = raw.partition("|")
        if not sep or not ident_text.isascii() or not ident_text.isdigit() or len(ident_text) > 19:
            raise ValueError("bad id")
        when, ident = datetime.fromisoformat(when_text), int(ident_text)
        if when.utcoffset() != timedelta(0) or not 1 <= ident <= MAX_ID:
            raise ValueError("not a position we give out")
        return when.astimezone(UTC), ident
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise InvalidInput("not a cursor this API gave out", field="cursor") from exc


@blp.route("")
class Posts(MethodView):
    @blp.doc(security=SECURITY)
    @require("posts")
    @blp.arguments(PostQuery, location="query")
    @blp.response(200, PostPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Newest first, by keyset cursor."""
        session, the_site = db.session(), site()
        stmt = select(Post)
        if "language" in args:
            if args["language"] not in the_site.languages:
                raise InvalidInput(f"unknown language {args['language']!r}", field="language")
            stmt = stmt.where(Post.language == args["language"])
        if "category" in args:
            cat_id = session.scalar(select(Category.id).where(Category.slug == args["category"]))
            if cat_id is None:
                raise InvalidInput(f"unknown category {args['category']!r}", field="category")
            stmt = stmt.where(
                Post.id.in_(select(PostCategory.post_id).where(PostCategory.category_id == cat_id))
            )
        if "status" in args:
            # Scheduled: stored with a publication time ahead, shown nowhere until then.
            now = utcnow()
            scheduled = args["status"] == "scheduled"
            stmt = stmt.where(Post.published_at > now if scheduled else Post.published_at <= now)
        if "cursor" in args:
            when, ident = _decode_cursor(args["cursor"])
            stmt = stmt.where(or_(Post.published_at < when, and_(Post.published_at == when, Post.id < ident)))
        limit = args["limit"]
        posts = list(
            session.scalars(stmt.order_by(Post.published_at.desc(), Post.id.desc()).limit(limit + 1))
        )
        more = len(posts) > limit
        posts = posts[:limit]
        return {
            "items": [post_json(session, the_site, p) for p in posts],
            "next_cursor": _encode_cursor(posts[-1]) if more else None,
        }

    @blp.doc(security=SECURITY)
    @require("posts")
    @blp.arguments(PostWrite)
    @blp.response(201, PostOut)
    def post(self, data: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Create a post; its HTML is sanitized and its feeds change at once."""
        session, the_site = db.session(), site()
        post = write.run(session, lambda s: create_post(s, the_site, to_input(data)))
        location = url_for("posts.PostItem", post_id=post.id, _external=False)
        return post_json(session, the_site, post), 201, {"Location": the_site.url(location)}


@blp.route("/<id:post_id>")
class PostItem(MethodView):
    @blp.doc(security=SECURITY)
    @require("posts")
    @blp.response(200, PostOut)
    def get(self, post_id: int) -> dict[str, Any]:
        session = db.session()
        return post_json(session, site(), get_post(session, post_id))

    @blp.doc(security=SECURITY)
    @require("posts")
    @blp.arguments(PostPatch)
    @blp.response(200, PostOut)
    def patch(self, data: dict[str, Any], post_id: int) -> dict[str, Any]:
        """Change the fields sent; the GUID never changes, `updated` does."""
        session, the_site = db.session(), site()
        post = write.run(session, lambda s: update_post(s, the_site, get_post(s, post_id), to_input(data)))
        return post_json(session, the_site, post)

    @blp.doc(security=SECURITY)
    @require("posts")
    @blp.response(204)
    def delete(self, post_id: int) -> None:
        write.run(db.session(), lambda s: delete_post(s, post_id))
