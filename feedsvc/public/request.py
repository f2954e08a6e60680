"""A parsed feed request and a problem with one: shared by the serving module and the document
registry, which both answer requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from feedsvc.scopes import OPML_SCOPE, Scope

if TYPE_CHECKING:
    from feedsvc.public.documents import Document


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """One parsed request for a feed (or the OPML list, ``fmt == "opml"``)."""

    scope: Scope
    fmt: str
    limit: int
    gzip: bool
    head: bool
    environ: Mapping[str, Any]
    # A registered document (sitemap, Yandex, archive page): its version scope and which page.
    doc: Document | None = None
    key: str | None = None
    part: str = ""

    @property
    def state_key(self) -> str:
        if self.key is not None:
            return self.key
        return OPML_SCOPE if self.fmt == "opml" else self.scope.key

    @property
    def variant(self) -> str:
        base = f"{self.state_key}:{self.fmt}:{self.limit}"
        return f"{base}:{self.part}" if self.part else base
