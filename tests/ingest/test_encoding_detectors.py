"""Which detector reads unlabelled single-byte Cyrillic better: our windows-1251/KOI8-R detector or
charset-normalizer. Measured on the saved Russian and Uzbek fixtures and on short texts made from
them (one title, one description: what a small feed or a single-item push carries). The Cyrillic
detector reads all of them; charset-normalizer takes short KOI8-R for Shift_JIS. It is the other
way round for Hebrew windows-1255, which the Cyrillic detector takes for windows-1251: so
``decode.detect`` asks both and keeps the Cyrillic answer only against a Cyrillic, multi-byte or
no answer from charset-normalizer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from feedsvc.ingest.stages.decode import decode, detect, detect_cyrillic, normalizer_guess

PARTNERS = Path(__file__).resolve().parent.parent / "fixtures" / "partners"
ENCODINGS = PARTNERS / "encodings"
MANIFEST = {c["file"]: c for c in json.loads((ENCODINGS / "manifest.json").read_text(encoding="utf-8"))}
CYRILLIC = ["ru_cp1251_unlabelled.xml", "ru_koi8r_unlabelled.xml", "uz_cp1251_unlabelled.xml",
            "uz_koi8r_unlabelled.xml"]  # fmt: skip

sys.path.insert(0, str(PARTNERS))
import make_encodings  # noqa: E402  (the texts the fixtures were written from)


def short_samples() -> list[tuple[bytes, str, str]]:
    samples = []
    for items, codec in (
        (make_encodings.RU, "cp1251"),
        (make_encodings.RU_KOI8, "koi8-r"),
        (make_encodings.UZ_CP1251, "cp1251"),
        (make_encodings.UZ_KOI8, "koi8-r"),
    ):
        for title, description in items:
            for text in (title, description, f"{title} {description}"):
                samples.append((make_encodings.rss([(text, "")], None, "x").encode(codec), codec, text))
    return samples


def reads(body: bytes, codec: str | None, text: str) -> bool:
    return codec is not None and text in body.decode(codec, errors="replace")


def test_the_cyrillic_detector_beats_charset_normalizer_on_russian_and_uzbek() -> None:
    cyrillic = normalizer = 0
    samples = short_samples()
    for body, _codec, text in samples:
        cyrillic += reads(body, detect_cyrillic(body), text)
        normalizer += reads(body, normalizer_guess(body), text)
    for name in CYRILLIC:
        body = (ENCODINGS / name).read_bytes()
        title = MANIFEST[name]["titles"][0]
        cyrillic += reads(body, detect_cyrillic(body), title)
        normalizer += reads(body, normalizer_guess(body), title)
    total = len(samples) + len(CYRILLIC)
    assert cyrillic == total
    assert normalizer < cyrillic  # 31 of 34 when this was written


def test_charset_normalizer_beats_the_cyrillic_detector_on_hebrew() -> None:
    body = (ENCODINGS / "he_cp1255_declared.xml").read_bytes()
    title = MANIFEST["he_cp1255_declared.xml"]["titles"][0]
    assert detect_cyrillic(body) == "cp1251"  # a false positive
    assert reads(body, normalizer_guess(body), title)
    assert detect(body) == "cp1255"


def test_the_combined_detector_reads_every_sample() -> None:
    for body, _codec, text in short_samples():
        assert text in decode(body).text
