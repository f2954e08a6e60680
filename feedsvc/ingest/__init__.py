"""Partner feed ingestion, database-free stages: fetch → parse → clean.

``fetch.fetch`` downloads (SSRF-guarded, size- and time-capped), ``parse.parse_feed`` turns the
bytes into ``ParsedFeed``/``ParsedItem`` records with sanitized HTML and UTC dates.
"""

from __future__ import annotations


class ParseError(ValueError):
    """The one error ``parse_feed`` raises: the document is not a usable feed, or is refused."""
