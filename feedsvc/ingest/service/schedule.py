"""When to fetch a source next.

The interval follows the partner's own rhythm (the median gap between its recent items), kept
within ``SOURCE_MIN_INTERVAL`` and ``SOURCE_MAX_INTERVAL``; the feed's hints (ttl, sy:update*,
Cache-Control max-age) may only lengthen it; a source that pushes (WebSub) is polled at the
maximum, as a safety net. Every delay is jittered, so sources added together drift apart.
Failures back off exponentially.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Iterable
from datetime import datetime, timedelta

from feedsvc.ingest.item import ParsedFeed, ParsedItem
from feedsvc.ingest.stages.dates import usable_date
from feedsvc.ingest.stages.fetch import FetchResult

MAX_HINT = 24 * 3600  # a feed asking for a week's pause still gets read daily
RHYTHM_ITEMS = 20  # the most recent items whose gaps count
JITTER = 0.1


def hint_seconds(parsed: ParsedFeed | None, result: FetchResult | None) -> int | None:
    """The longest interval the feed itself asks for (ttl, sy:update*, Cache-Control max-age)."""
    hints = []
    if parsed is not None:
        if parsed.hints.ttl_minutes:
            hints.append(parsed.hints.ttl_minutes * 60)
        if parsed.hints.update_interval:
            hints.append(parsed.hints.update_interval)
        if parsed.hints.expired:
            hints.append(MAX_HINT)  # the partner says it will not update again: daily is plenty
    if result is not None and result.max_age:
        hints.append(result.max_age)
    return min(max(hints), MAX_HINT) if hints else None


def publish_gap(items: Iterable[ParsedItem], now: datetime) -> int | None:
    """Median seconds between the partner's recent item dates; None with fewer than three."""
    dates = sorted(
        (item.published for item in items if item.published and usable_date(item.published, now)),
        reverse=True,
    )[:RHYTHM_ITEMS]
    if len(dates) < 3:
        return None
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(dates)]
    return int(statistics.median(gaps))


def interval(
    interval_s: int,
    hint_s: int | None,
    min_interval: int,
    max_interval: int | None = None,
    publish_gap_s: int | None = None,
    pushing: bool = False,
) -> int:
    """The partner's rhythm (else the configured interval) within [min, max]; hints only lengthen."""
    ceiling = max(max_interval or interval_s, min_interval)
    base = publish_gap_s if publish_gap_s is not None else interval_s
    base = min(max(base, min_interval), ceiling)
    if pushing:
        base = ceiling
    return max(base, hint_s or 0)


def jittered(seconds: int, min_interval: int, rng: random.Random | None = None) -> int:
    return int(max(min_interval, seconds * (rng or random).uniform(1 - JITTER, 1 + JITTER)))


def backoff(errors: int, base: int, cap: int, min_interval: int, rng: random.Random | None = None) -> int:
    """Exponential backoff with jitter: about base·2^(errors−1), spread over its upper half, capped."""
    ceiling = min(cap, base * 2 ** min(max(errors - 1, 0), 30))
    jittered = (rng or random).uniform(ceiling / 2, ceiling)
    return int(max(min_interval, jittered))


def after(now: datetime, seconds: int) -> datetime:
    return now + timedelta(seconds=seconds)
