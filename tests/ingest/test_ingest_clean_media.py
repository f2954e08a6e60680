"""Partner HTML that reads well and runs nothing: players, pictures, lazy images, embeds, tables,
text direction; and what still never passes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from feedsvc import sanitize
from feedsvc.ingest.stages.clean import clean_partner_html
from feedsvc.sanitize import find_active_content, sanitize_html
from tests.feedcheck import check_html

BASE = "https://partner.example/news/2026/03/05/story.html"
SANDBOX = 'sandbox="allow-scripts allow-same-origin allow-presentation"'


@pytest.fixture(autouse=True)
def default_embed_hosts() -> Iterator[None]:
    yield
    sanitize.configure(embed_hosts=sanitize.DEFAULT_EMBED_HOSTS)


def clean(fragment: str) -> str:
    return clean_partner_html(fragment, BASE)


def test_video_and_audio_kept_without_autoplay() -> None:
    html = clean(
        '<video autoplay muted controls poster="/img/poster.jpg" onplay="x()" style="width:100%">'
        '<source src="/media/clip.mp4" type="video/mp4"><source src="javascript:alert(1)">'
        '<track src="/media/clip.vtt" kind="subtitles" srclang="ru" label="Русский">'
        "Your browser cannot play this video.</video>"
        '<audio autoplay src="https://cdn.partner.example/a.mp3">Listen</audio>'
    )
    assert html == (
        '<video poster="https://partner.example/img/poster.jpg" controls="">'
        '<source src="https://partner.example/media/clip.mp4" type="video/mp4"><source>'
        '<track src="https://partner.example/media/clip.vtt" srclang="ru" label="Русский">'
        "Your browser cannot play this video.</video>"
        '<audio src="https://cdn.partner.example/a.mp3" controls="">Listen</audio>'
    )


def test_player_without_a_playable_source_keeps_its_fallback_text() -> None:
    assert clean('<p><video><source src="javascript:x">Watch on our site</video></p>') == (
        "<p>Watch on our site</p>"
    )


def test_picture_and_srcset_resolved_and_only_http() -> None:
    html = clean(
        '<picture><source srcset="/p.avif 1x, /p@2x.avif 2x" type="image/avif">'
        '<img src="/p.jpg" srcset="/p.jpg 640w, javascript:alert(1) 800w, data:image/png;base64,AA 900w"'
        ' alt="P"></picture>'
    )
    assert html == (
        '<picture><source srcset="https://partner.example/p.avif 1x, https://partner.example/p@2x.avif 2x"'
        ' type="image/avif"><img src="https://partner.example/p.jpg"'
        ' srcset="https://partner.example/p.jpg 640w" alt="P"></picture>'
    )


@pytest.mark.parametrize(
    "placeholder",
    [
        "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7",
        "/static/blank.gif",
        "/img/placeholder.png",
        "https://cdn.partner.example/lazy-placeholder.svg",
        "",
    ],
)
def test_lazy_images_get_their_real_source(placeholder: str) -> None:
    html = clean(
        f'<img src="{placeholder}" data-src="/photos/metro.jpg" data-srcset="/photos/metro@2x.jpg 2x"'
        ' alt="Metro">'
    )
    assert html == (
        '<img src="https://partner.example/photos/metro.jpg" alt="Metro"'
        ' srcset="https://partner.example/photos/metro@2x.jpg 2x">'
    )


def test_lazy_image_with_1x1_markers_is_not_taken_for_a_pixel() -> None:
    html = clean('<img src="/blank.gif" data-src="/photos/a.jpg" width="800" height="600" alt="A">')
    assert html == '<img src="https://partner.example/photos/a.jpg" width="800" height="600" alt="A">'


def test_real_src_is_not_replaced_by_a_lazy_one() -> None:
    html = clean('<img src="/small.jpg" data-src="/large.jpg" alt="x">')
    assert html == '<img src="https://partner.example/small.jpg" alt="x">'


def test_image_with_only_srcset_gets_its_largest_candidate_as_src() -> None:
    html = clean('<img srcset="/s.jpg 320w, /l.jpg 1280w, /m.jpg 640w" alt="x">')
    assert 'src="https://partner.example/l.jpg"' in html
    assert 'srcset="https://partner.example/s.jpg 320w' in html


def test_tracking_pixels_still_go() -> None:
    assert clean('<p>Text<img src="https://mc.yandex.ru/watch/1" alt=""></p>') == "<p>Text</p>"
    assert clean('<img src="/x.gif" width="1" height="1">') == ""


def test_iframe_from_an_embed_host_kept_sandboxed() -> None:
    html = clean(
        '<p><iframe src="//www.youtube.com/embed/dQw4w9WgXcQ" width="560" height="315" frameborder="0"'
        ' allow="autoplay; encrypted-media" onload="x()" style="border:0"><script>alert(1)</script>'
        "</iframe></p>"
    )
    assert html == (
        '<p><iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ" width="560" height="315"'
        f' {SANDBOX} referrerpolicy="strict-origin-when-cross-origin" allowfullscreen=""></iframe></p>'
    )


def test_an_iframe_without_the_sandbox_never_survives() -> None:
    # Only the partner pre-pass makes embeds; a bare iframe handed to the allowlist is dropped.
    assert sanitize_html('<iframe src="https://www.youtube.com/embed/x"></iframe>', embeds=True) == ""
    forged = (
        '<iframe src="https://www.youtube.com/embed/x" sandbox="allow-top-navigation allow-forms"'
        ' referrerpolicy="unsafe-url" allowfullscreen></iframe>'
    )
    assert sanitize_html(forged, embeds=True) == (
        f'<iframe src="https://www.youtube.com/embed/x" {SANDBOX}'
        ' referrerpolicy="strict-origin-when-cross-origin" allowfullscreen=""></iframe>'
    )


def test_other_iframes_become_links_and_leave_no_empty_paragraph() -> None:
    html = clean(
        '<p><iframe src="https://ads.example/frame?id=1"></iframe></p>'
        '<p><iframe src="javascript:alert(1)"></iframe></p><p>Text</p>'
    )
    assert html == (
        '<p><a href="https://ads.example/frame?id=1" rel="noopener noreferrer">'
        "https://ads.example/frame?id=1</a></p><p>Text</p>"
    )


def test_embed_hosts_are_configurable() -> None:
    sanitize.configure(embed_hosts=["media.partner.example"])
    assert SANDBOX in clean('<iframe src="https://media.partner.example/player/1"></iframe>')
    assert clean('<iframe src="https://www.youtube.com/embed/x"></iframe>') == (
        '<a href="https://www.youtube.com/embed/x" rel="noopener noreferrer">https://www.youtube.com/embed/x</a>'
    )


def test_paragraphs_emptied_by_sanitizing_are_removed() -> None:
    assert clean("<p><script>alert(1)</script></p><p>&nbsp;<br></p><p>Kept</p>") == "<p>Kept</p>"


def test_direction_language_tables_and_figures_kept() -> None:
    html = clean(
        '<p dir="rtl" lang="ar" style="color:red">مرحبا</p><p dir="sideways" lang="not a tag">x</p>'
        '<table><caption>Results</caption><colgroup><col span="2"></colgroup>'
        '<thead><tr><th scope="col" colspan="2">Team</th></tr></thead>'
        '<tbody><tr><td rowspan="2" onclick="x()">1</td></tr></tbody>'
        "<tfoot><tr><td>Σ</td></tr></tfoot></table>"
        '<figure><img src="/f.jpg" alt="F"><figcaption>Caption</figcaption></figure>'
    )
    assert html == (
        '<p dir="rtl" lang="ar">مرحبا</p><p>x</p>'
        '<table><caption>Results</caption><colgroup><col span="2"></colgroup>'
        '<thead><tr><th scope="col" colspan="2">Team</th></tr></thead>'
        '<tbody><tr><td rowspan="2">1</td></tr></tbody><tfoot><tr><td>Σ</td></tr></tfoot></table>'
        '<figure><img src="https://partner.example/f.jpg" alt="F"><figcaption>Caption</figcaption></figure>'
    )


@pytest.mark.parametrize(
    "fragment",
    [
        "<script>alert(1)</script>",
        '<img src="x.jpg" onerror="alert(1)">',
        '<form action="https://evil.example/"><input name="p"></form>',
        "<style>p{display:none}</style>",
        '<p style="position:fixed">x</p>',
        '<a href="javascript:alert(1)">x</a>',
        '<video src="javascript:alert(1)" poster="data:image/png;base64,AA"></video>',
        '<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/x.swf">',
    ],
)
def test_active_content_never_passes(fragment: str) -> None:
    html = clean(fragment)
    for needle in ("<script", "onerror", "<form", "<input", "<style", "style=", "javascript", "data:"):
        assert needle not in html, (needle, html)
    assert "<embed" not in html and "<object" not in html


def test_admin_html_still_refuses_iframes_and_gets_no_embed() -> None:
    fragment = '<p><iframe src="https://www.youtube.com/embed/x"></iframe></p>'
    assert find_active_content(fragment) == ["<iframe> element"]
    # Sanitized without a partner pre-pass, an iframe goes with its content.
    assert sanitize_html(fragment) == ""


def test_cleaned_media_html_passes_the_feed_html_checks() -> None:
    html = clean(
        '<p dir="rtl">x</p><video controls poster="/p.jpg"><source src="/v.mp4" type="video/mp4">'
        '<track src="/v.vtt" srclang="ru" label="RU"></video><picture><source srcset="/a.webp 2x">'
        '<img src="/a.jpg" alt="a"></picture><table><tr><td>1</td></tr></table>'
    )
    problems: list[str] = []
    check_html(html, "content", problems)
    assert problems == []
