"""When to fetch a source next: its interval, lengthened by the feed's hints, backed off on failure."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from feedsvc.ingest.fetch import FetchResult
from feedsvc.ingest.parse import ParsedFeed

MAX_HINT = 24 * 3600  # a feed asking for a week's pause still gets read daily


def hint_seconds(parsed: ParsedFeed | None, result: FetchResult | None) -> int | None:
    """The longest interval the feed itself asks for (ttl, sy:update*, Cache-Control max-age)."""
    hints = []
    if parsed is not None:
        if parsed.hints.ttl_minutes:
            hints.append(parsed.hints.ttl_minutes * 60)
        if parsed.hints.update_interval:
            hints.append(parsed.hints.update_interval)
    if result is not None and result.max_age:
        hints.append(result.max_age)
    return min(max(hints), MAX_HINT) if hints else None


def interval(interval_s: int, hint_s: int | None, min_interval: int) -> int:
    """Hints may lengthen the interval, never shorten it; nothing goes below the minimum."""
    return max(min_interval, interval_s, hint_s or 0)


def backoff(errors: int, base: int, cap: int, min_interval: int, rng: random.Random | None = None) -> int:
    """Exponential backoff with jitter: about base·2^(errors−1), spread over its upper half, capped."""
    ceiling = min(cap, base * 2 ** min(max(errors - 1, 0), 30))
    jittered = (rng or random).uniform(ceiling / 2, ceiling)
    return int(max(min_interval, jittered))


def after(now: datetime, seconds: int) -> datetime:
    return now + timedelta(seconds=seconds)
