"""URL rules shared by the admin sanitizer, the partner stages and the source registry."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Where a link of ours or a partner's may point to. Fetched URLs (feeds, articles, hubs) are web only.
WEB_SCHEMES: frozenset[str] = frozenset({"http", "https"})
LINK_SCHEMES: frozenset[str] = WEB_SCHEMES | {"mailto"}

# Query parameters that say who sent the reader, not which article it is.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "yclid", "ysclid", "msclkid", "twclid", "igshid",
        "mc_cid", "mc_eid", "_openstat", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
        "vero_id", "wickedid", "rb_clickid", "s_cid", "ref_src", "spm", "__twitter_impression",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "ga_", "hsa_", "at_")


def is_tracking_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMETERS or lowered.startswith(TRACKING_PREFIXES)


def normalize_link(url: str) -> str:
    """``url`` as an identity: scheme and host lower case, tracking parameters dropped, the rest as
    written (so a link that had nothing to drop is returned unchanged, and keeps its stored key)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not is_tracking_parameter(k)]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    fragment = parts.fragment
    if fragment and "=" in fragment and is_tracking_parameter(fragment.split("=", 1)[0]):
        fragment = ""  # "#utm_source=…" (some share buttons put it there)
    # Host names are case-insensitive; user info (rare in feeds) is not, so only the host part is lowered.
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{hostport.lower()}"
    same = (parts.scheme.lower(), netloc, query, fragment)
    if same == (parts.scheme, parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, query, fragment))
