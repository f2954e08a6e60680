"""Date rules: raw strings, zones feedparser gets wrong, Russian/Uzbek months, the future."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from feedsvc.ingest.stages.dates import EARLIEST, LATEST, absurd_date, parse_date, resolve_date, usable_date

TASHKENT = ZoneInfo("Asia/Tashkent")
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # RFC 822 with offsets and names
        ("Thu, 05 Mar 2026 14:30:00 +0300", utc(2026, 3, 5, 11, 30)),
        ("Thu, 05 Mar 2026 14:30:00 GMT", utc(2026, 3, 5, 14, 30)),
        ("Thu, 05 Mar 2026 14:30:00 MSK", utc(2026, 3, 5, 11, 30)),  # feedparser: 14:30 UTC
        ("Thu, 05 Mar 2026 14:30:00 UZT", utc(2026, 3, 5, 9, 30)),  # feedparser: 14:30 UTC
        ("Thu, 05 Mar 2026 14:30:00 EST", utc(2026, 3, 5, 19, 30)),
        ("05 Mar 26 14:30 +0500", utc(2026, 3, 5, 9, 30)),
        ("Mar 5, 2026 2:30 PM GMT+3", utc(2026, 3, 5, 11, 30)),
        # ISO 8601 / RFC 3339 / W3C-DTF
        ("2026-03-05T14:30:00+03:00", utc(2026, 3, 5, 11, 30)),
        ("2026-03-05T14:30:00.250Z", datetime(2026, 3, 5, 14, 30, 0, 250000, tzinfo=UTC)),
        ("2026-03-05 14:30 +05:00", utc(2026, 3, 5, 9, 30)),
        # no zone: the source's zone (Tashkent, +05:00)
        ("Thu, 05 Mar 2026 14:30:00", utc(2026, 3, 5, 9, 30)),
        ("2026-03-05T14:30:00", utc(2026, 3, 5, 9, 30)),
        ("2026-03-05", utc(2026, 3, 4, 19, 0)),
        ("05.03.2026 14:30", utc(2026, 3, 5, 9, 30)),
        # an abbreviation nobody agrees on: the source's zone
        ("Thu, 05 Mar 2026 14:30:00 IST", utc(2026, 3, 5, 9, 30)),
        # Russian months
        ("5 марта 2026 14:30", utc(2026, 3, 5, 9, 30)),
        ("5 мар 2026", utc(2026, 3, 4, 19, 0)),
        ("05 марта 2026 г., 14:30", utc(2026, 3, 5, 9, 30)),
        ("четверг, 5 марта 2026 года в 14:30", utc(2026, 3, 5, 9, 30)),
        ("1 мая 2026 9:05", utc(2026, 5, 1, 4, 5)),
        ("31 декабря 2025 23:59 MSK", utc(2025, 12, 31, 20, 59)),
        ("12 сентября 2025", utc(2025, 9, 11, 19, 0)),
        # Uzbek months (Latin and Cyrillic)
        ("2026-yil 5-mart, 14:30", utc(2026, 3, 5, 9, 30)),
        ("5-mart 2026 14:30", utc(2026, 3, 5, 9, 30)),
        ("5 iyun 2026", utc(2026, 6, 4, 19, 0)),
        ("5 iyul 2026", utc(2026, 7, 4, 19, 0)),
        ("12 sentabr 2025", utc(2025, 9, 11, 19, 0)),
        ("5 сентябр 2025", utc(2025, 9, 4, 19, 0)),
    ],
)
def test_parse_date(raw: str, expected: datetime) -> None:
    parsed = parse_date(raw, default_tz=TASHKENT)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "вчера вечером", "32 марта 2026", "Wed, 4 Mar 2026 25:00:00 GMT", "2026-02-30", "soon"],
)
def test_unreadable_dates_are_none(raw: str | None) -> None:
    assert parse_date(raw, default_tz=TASHKENT) is None


def test_default_zone_is_utc() -> None:
    assert parse_date("Thu, 05 Mar 2026 14:30:00") == utc(2026, 3, 5, 14, 30)


def test_default_zone_follows_daylight_saving() -> None:
    london = ZoneInfo("Europe/London")
    assert parse_date("2026-01-15 12:00", default_tz=london) == utc(2026, 1, 15, 12, 0)
    assert parse_date("2026-07-15 12:00", default_tz=london) == utc(2026, 7, 15, 11, 0)


def test_future_and_ancient_dates_are_not_usable() -> None:
    assert usable_date(NOW + timedelta(minutes=9), NOW)  # clock skew
    assert not usable_date(NOW + timedelta(minutes=11), NOW)
    assert absurd_date(utc(2033, 3, 5), NOW) == "in the future"
    assert absurd_date(utc(1969, 12, 31), NOW) == "before 1970"
    assert absurd_date(utc(2026, 3, 1), NOW) is None
    assert not usable_date(None, NOW)


def test_dates_beyond_what_utc_can_hold_do_not_raise() -> None:
    assert parse_date("Fri, 31 Dec 9999 23:59:59 -1200") == LATEST
    assert parse_date("Mon, 01 Jan 0001 00:00:00 +1400") == EARLIEST
    assert parse_date("9999-12-31T23:59:59-12:00") == LATEST
    assert absurd_date(LATEST, NOW) == "in the future" and absurd_date(EARLIEST, NOW) == "before 1970"


def test_resolve_date_prefers_the_raw_string_over_feedparser() -> None:
    # What feedparser makes of "... 14:30:00 MSK": 14:30 as if UTC.
    wrong = time.struct_time((2026, 3, 5, 14, 30, 0, 3, 64, 0))
    raw = "Thu, 05 Mar 2026 14:30:00 MSK"
    assert resolve_date(raw, wrong, default_tz=TASHKENT) == utc(2026, 3, 5, 11, 30)
    # feedparser's reading is only the fallback for strings we cannot read.
    assert resolve_date("some odd format", wrong) == utc(2026, 3, 5, 14, 30)
    assert resolve_date(None, None) is None
    # Not clamped here: the store replaces it with the first-seen time, once.
    assert resolve_date("Sat, 05 Mar 2033 14:30:00 +0300", None) == utc(2033, 3, 5, 11, 30)
