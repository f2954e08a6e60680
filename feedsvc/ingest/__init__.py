"""Partner feed ingestion.

``stages/`` are database-free: fetch (SSRF-guarded, size- and time-capped) → decode → guard →
one parser per format (``xml`` via feedparser, ``jsonfeed``) → normalise (clean, dates, identity),
all over the one item model in ``item``; ``reader.parse_feed`` runs them in order. ``service/``
is what needs the database: sources, claims, scheduling, one run per source, the worker loop, the
store (which hands every row to ``feedsvc.write``), WebSub subscriptions and full-text fetches.
"""

from __future__ import annotations


class ParseError(ValueError):
    """The one error ``parse_feed`` raises: the document is not a usable feed, or is refused."""
