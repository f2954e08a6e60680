"""Partner dates → aware UTC datetimes, read from the raw strings.

feedparser's ``*_parsed`` values are naive UTC struct_times that lose what we need: it reads
unknown zone abbreviations (MSK, UZT …) as UTC and does not know Russian or Uzbek month names.
So the raw strings are parsed here:

* RFC 822/1123 (``Thu, 05 Mar 2026 14:30:00 +0300``, also with MSK/UZT and similar names),
  ISO 8601 / RFC 3339 / W3C-DTF, ``05.03.2026 14:30``, and free text with English, Russian
  (``5 марта 2026 14:30``, ``5 мар 2026``) or Uzbek (``5-mart 2026``, ``5 март 2026``) months;
* no zone, or an abbreviation we do not know → the source's configured zone (``default_tz``);
* a date that cannot exist in UTC (``31 Dec 9999 23:59:59 -1200``, ``1 Jan 0001 +14:00``) → the
  largest or smallest datetime, never an exception;
* unparseable or missing → None.

What is kept of a date is the store's decision (``usable_date``): a date in the future or before
1970, or none, becomes the first-seen time once, when the item is new, and stays put afterwards.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone, tzinfo

FUTURE_TOLERANCE = timedelta(minutes=10)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
EARLIEST = datetime.min.replace(tzinfo=UTC)


def _tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


# Abbreviations with one unambiguous meaning for our partners. Ambiguous ones (IST, CST in China,
# AMT …) are left out on purpose: they fall back to the source's zone, which is the better guess.
ZONE_ABBREVIATIONS: dict[str, tzinfo] = {
    "Z": UTC, "UT": UTC, "UTC": UTC, "GMT": UTC, "WET": _tz(0),
    "EST": _tz(-5), "EDT": _tz(-4), "CST": _tz(-6), "CDT": _tz(-5),  # RFC 822's US zones
    "MST": _tz(-7), "MDT": _tz(-6), "PST": _tz(-8), "PDT": _tz(-7),
    "BST": _tz(1), "CET": _tz(1), "CEST": _tz(2), "MET": _tz(1), "MEST": _tz(2),
    "EET": _tz(2), "EEST": _tz(3), "MSK": _tz(3), "MSD": _tz(4), "TRT": _tz(3),
    "SAMT": _tz(4), "GST": _tz(4), "AZT": _tz(4), "GET": _tz(4), "AFT": _tz(4.5),
    "UZT": _tz(5), "TJT": _tz(5), "TMT": _tz(5), "PKT": _tz(5), "YEKT": _tz(5), "ALMT": _tz(5),
    "KGT": _tz(6), "OMST": _tz(6), "NOVT": _tz(7), "KRAT": _tz(7), "IRKT": _tz(8),
    "YAKT": _tz(9), "VLAT": _tz(10), "MAGT": _tz(11), "PETT": _tz(12),
}  # fmt: skip

# Month name stems: the longest matching prefix wins ("iyun"/"iyul" need four letters).
_MONTH_STEMS: dict[str, int] = {
    # English
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "oct": 10, "nov": 11, "dec": 12,
    # Russian (any case form: "марта", "мар", "март") and Uzbek Cyrillic ("январ", "сентябр")
    "янв": 1, "фев": 2, "мар": 3, "апр": 4, "май": 5, "мая": 5, "мае": 5, "июн": 6, "июл": 7,
    "авг": 8, "сен": 9, "окт": 10, "ноя": 11, "дек": 12,
    # Uzbek Latin
    "yan": 1, "fev": 2, "iyun": 6, "iyul": 7, "avg": 8, "sent": 9, "okt": 10, "noy": 11, "dek": 12,
}  # fmt: skip
_WEEKDAYS = frozenset(
    "mon tue wed thu fri sat sun пн вт ср чт пт сб вс пон вто сре чет пят суб вос"
    " dush sesh chor pay jum shan yak душ сеш чор пай жум шан якш".split()
)
# Words that decorate dates: "5 марта 2026 г., 14:30", "2026-yil 5-mart", "5 марта 2026 года в 14:30".
_NOISE = frozenset({"г", "года", "год", "yil", "yilda", "в", "at", "on", "soat", "da", "the", "of"})

_ISO_RE = re.compile(
    r"^([0-9]{4})-?([0-9]{2})-?([0-9]{2})"
    r"(?:[T\s]+([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?)?"
    r"\s*(Z|[+-][0-9]{2}(?::?[0-9]{2})?|[A-Za-z]{2,5})?$",
    re.IGNORECASE,
)
_NUMERIC_RE = re.compile(
    r"^([0-9]{1,2})[./]([0-9]{1,2})[./]([0-9]{4})(?:[\s,]+([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?"
    r"\s*(Z|[+-][0-9]{2}(?::?[0-9]{2})?|[A-Za-z]{2,5})?$"
)
_TIME_RE = re.compile(r"^([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,][0-9]+)?)?$")
_OFFSET_RE = re.compile(r"^(?:GMT|UTC|UT)?([+-])([0-9]{1,2})(?::?([0-9]{2}))?$", re.IGNORECASE)
_TOKEN_RE = re.compile(
    r"[+-][0-9]{1,2}(?::?[0-9]{2})?\b|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?|[0-9]+|[^\W\d_]+\.?"
)


def _offset(token: str) -> tzinfo | None:
    match = _OFFSET_RE.match(token)
    if not match:
        return ZONE_ABBREVIATIONS.get(token.upper())
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if delta >= timedelta(hours=15):
        return None
    return timezone(-delta if sign == "-" else delta)


def _month(word: str) -> int | None:
    word = word.rstrip(".").lower()
    for length in (4, 3):
        month = _MONTH_STEMS.get(word[:length])
        if month is not None:
            return month
    return None


def _year(value: int) -> int:
    if value < 100:  # RFC 822 two-digit years
        return value + (2000 if value < 70 else 1900)
    return value


def _build(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    zone: tzinfo | None,
    default_tz: tzinfo,
    microsecond: int = 0,
) -> datetime | None:
    try:
        local = datetime(year, month, day, hour, minute, second, microsecond)
    except ValueError:
        return None
    try:
        if zone is None:
            # Wall-clock time in the source's zone; ZoneInfo picks the right DST offset.
            return local.replace(tzinfo=default_tz).astimezone(UTC)
        return local.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:  # year 9999 west of UTC, year 1 east of it
        return LATEST if year > 5000 else EARLIEST


def _zone_token(token: str | None) -> tuple[bool, tzinfo | None]:
    """(token was a zone we understood or no token at all, zone or None for "use default")."""
    if not token:
        return True, None
    zone = _offset(token)
    return (zone is not None, zone)


def _parse_iso(text: str, default_tz: tzinfo) -> datetime | None:
    match = _ISO_RE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone_token = match.groups()
    _, zone = _zone_token(zone_token)  # an unknown name falls back to the default zone
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return _build(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
        zone, default_tz, micro,
    )  # fmt: skip


def _parse_numeric(text: str, default_tz: tzinfo) -> datetime | None:
    match = _NUMERIC_RE.match(text)
    if not match:
        return None
    day, month, year, hour, minute, second, zone_token = match.groups()
    _, zone = _zone_token(zone_token)
    return _build(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), zone, default_tz
    )


def _parse_words(text: str, default_tz: tzinfo) -> datetime | None:
    """RFC 822 and free-text dates: tokens in any reasonable order, one month name required."""
    day = month = year = None
    hour = minute = second = 0
    zone: tzinfo | None = None
    pm: bool | None = None
    for raw in _TOKEN_RE.findall(text):
        token = raw.rstrip(".")
        lower = token.lower()
        if time_match := _TIME_RE.match(token):
            hour, minute = int(time_match.group(1)), int(time_match.group(2))
            second = int(time_match.group(3) or 0)
        elif token.isascii() and token.isdigit():
            value = int(token)
            if len(token) == 4:
                year = value
            elif day is None and 1 <= value <= 31:
                day = value
            elif year is None:
                year = _year(value)
            else:
                return None
        elif token[0] in "+-":
            zone = _offset(token)
        elif lower in ("am", "pm"):
            pm = lower == "pm"
        elif lower in _NOISE or lower[:3] in _WEEKDAYS or lower[:4] in _WEEKDAYS:
            continue
        elif month is None and (found := _month(lower)) is not None:
            month = found
        elif token.upper() in ZONE_ABBREVIATIONS or _OFFSET_RE.match(token):
            zone = _offset(token)
        elif token.isalpha() and token.isupper() and len(token) <= 5:
            zone = None  # an abbreviation we do not know: the source's zone is the better guess
        else:
            return None
    if day is None or month is None or year is None:
        return None
    if pm is not None and 1 <= hour <= 12:
        hour = hour % 12 + (12 if pm else 0)
    return _build(year, month, day, hour, minute, second, zone, default_tz)


def parse_date(raw: str | None, *, default_tz: tzinfo = UTC) -> datetime | None:
    """Parse one raw date string to aware UTC, or None if it is missing or unreadable."""
    if not raw or not isinstance(raw, str):
        return None
    text = " ".join(raw.replace("\u00a0", " ").split())[:100]
    if not text:
        return None
    for parser in (_parse_iso, _parse_numeric, _parse_words):
        result = parser(text, default_tz)
        if result is not None:
            return result
    # Space before the offset sign in ISO forms ("2026-03-05 14:30 +03:00") and similar.
    return _parse_iso(text.replace(" +", "+").replace(" -", "-"), default_tz)


def from_struct_time(value: time.struct_time | None) -> datetime | None:
    """feedparser's ``*_parsed`` (naive UTC) as aware UTC; last resort when the raw string failed."""
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def usable_date(value: datetime | None, now: datetime, tolerance: timedelta = FUTURE_TOLERANCE) -> bool:
    """Whether a partner's date may be shown: not in the future (beyond ``tolerance``), not before 1970."""
    return value is not None and EPOCH <= value <= now + tolerance


def absurd_date(value: datetime | None, now: datetime, tolerance: timedelta = FUTURE_TOLERANCE) -> str | None:
    """Why a date that was read cannot be shown ("in the future", "before 1970"), or None."""
    if value is None:
        return None
    if value > now + tolerance:
        return "in the future"
    if value < EPOCH:
        return "before 1970"
    return None


def resolve_date(
    raw: str | None,
    parsed: time.struct_time | None = None,
    *,
    default_tz: tzinfo = UTC,
) -> datetime | None:
    """The date a partner meant: raw string first, feedparser's reading as fallback; not clamped."""
    return parse_date(raw, default_tz=default_tz) or from_struct_time(parsed)
