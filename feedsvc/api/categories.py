"""/api/categories: categories with a name per language."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import func, select

from feedsvc import db, write
from feedsvc.api.auth import require
from feedsvc.api.schemas import CategoryOut, CategoryPatch, CategoryWrite
from feedsvc.categories import create_category, delete_category, get_category, rename_category
from feedsvc.models import Category, PostCategory
from feedsvc.site import site

blp = Blueprint("categories", __name__, url_prefix="/api/categories", description="Categories")
SECURITY = [{"bearerAuth": []}]


def _json(category: Category, posts: int) -> dict[str, Any]:
    return {"slug": category.slug, "names": category.names, "posts": posts}


def _count(category: Category) -> int:
    return db.session().scalar(select(func.count()).where(PostCategory.category_id == category.id)) or 0


@blp.route("")
class Categories(MethodView):
    @blp.doc(security=SECURITY)
    @require("categories")
    @blp.response(200, CategoryOut(many=True))
    def get(self) -> list[dict[str, Any]]:
        session = db.session()
        counts = dict(
            session.execute(
                select(PostCategory.category_id, func.count()).group_by(PostCategory.category_id)
            ).all()
        )
        return [
            _json(c, counts.get(c.id, 0)) for c in session.scalars(select(Category).order_by(Category.slug))
        ]

    @blp.doc(security=SECURITY)
    @require("categories")
    @blp.arguments(CategoryWrite)
    @blp.response(201, CategoryOut)
    def post(self, data: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        session, the_site = db.session(), site()
        category = write.run(session, lambda s: create_category(s, the_site, data["slug"], data["names"]))
        return _json(category, 0), 201, {"Location": the_site.url(f"/api/categories/{category.slug}")}


@blp.route("/<slug:slug>")
class CategoryItem(MethodView):
    @blp.doc(security=SECURITY)
    @require("categories")
    @blp.response(200, CategoryOut)
    def get(self, slug: str) -> dict[str, Any]:
        category = get_category(db.session(), slug)
        return _json(category, _count(category))

    @blp.doc(security=SECURITY)
    @require("categories")
    @blp.arguments(CategoryPatch)
    @blp.response(200, CategoryOut)
    def patch(self, data: dict[str, Any], slug: str) -> dict[str, Any]:
        session = db.session()
        category = write.run(
            session, lambda s: rename_category(s, site(), get_category(s, slug), data["names"])
        )
        return _json(category, _count(category))

    @blp.doc(security=SECURITY)
    @require("categories")
    @blp.response(204)
    def delete(self, slug: str) -> None:
        """Delete a category; its posts stay, filed under their other categories."""
        write.run(db.session(), lambda s: delete_category(s, site(), slug))
