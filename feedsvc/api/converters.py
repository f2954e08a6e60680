"""URL converters of the API's path parameters: a value no row can have never reaches the database."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter, IntegerConverter, Map, ValidationError

from feedsvc.scopes import MAX_CATEGORY_SLUG, valid_segment

MAX_ID = 2**63 - 1  # ids are signed 64-bit in PostgreSQL (BIGINT) and SQLite alike
SLUG_PATTERN = r"[a-z0-9]+(?:-[a-z0-9]+)*"


class IdConverter(IntegerConverter):
    """A row id, 1..2^63-1; anything else is no route, so a 404."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        # Bound the digits first: int() of thousands of digits is slow, and past 4300 an error.
        if len(value) > len(str(MAX_ID)):
            raise ValidationError()
        return super().to_python(value)  # type: ignore[no-any-return]


class SlugConverter(BaseConverter):
    """A category slug: lowercase letters, digits and single hyphens, at most 64 characters."""

    regex = SLUG_PATTERN

    def to_python(self, value: str) -> str:
        if not valid_segment(value, MAX_CATEGORY_SLUG):
            raise ValidationError()
        return value


def id_param_schema(_converter: IdConverter) -> dict[str, Any]:
    return {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID}


def slug_param_schema(_converter: SlugConverter) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^{SLUG_PATTERN}$", "maxLength": MAX_CATEGORY_SLUG}
