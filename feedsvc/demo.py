"""Demo content: a few real-looking stories in English, Russian and Uzbek, and a bulk synthetic loader."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from feedsvc import write
from feedsvc.categories import create_category
from feedsvc.models import Category, Post
from feedsvc.posts import PostInput, create_post
from feedsvc.site import Site

CATEGORIES: dict[str, dict[str, str]] = {
    "events": {"en": "Events", "ru": "События", "uz": "Voqealar"},
    "politics": {"en": "Politics", "ru": "Политика", "uz": "Siyosat"},
    "economy": {"en": "Economy", "ru": "Экономика", "uz": "Iqtisodiyot"},
    "society": {"en": "Society", "ru": "Общество", "uz": "Jamiyat"},
    "sport": {"en": "Sport", "ru": "Спорт", "uz": "Sport"},
    "culture": {"en": "Culture", "ru": "Культура", "uz": "Madaniyat"},
}

# (categories, hours ago, image, {language: (title, html)})
STORIES: list[tuple[list[str], int, str | None, dict[str, tuple[str, str]]]] = [
    (
        ["events", "society"],
        2,
        "https://static.example.uz/img/metro-yunusobod.jpg",
        {
            "en": (
                "Tashkent opens two new metro stations on the Yunusobod line",
                "<p>Two stations on the extended Yunusobod line opened to passengers on Friday morning. "
                "The city administration says the extension will carry up to 40,000 people a day.</p>"
                "<p>Trains run every six minutes at peak hours.</p>",
            ),
            "ru": (
                "В Ташкенте открылись две новые станции метро на Юнусабадской линии",
                "<p>В пятницу утром для пассажиров открылись две станции продлённой Юнусабадской линии. "
                "По словам хокимията, продление будет перевозить до 40 000 человек в день.</p>"
                "<p>В часы пик поезда ходят каждые шесть минут.</p>",
            ),
            "uz": (
                "Toshkentda Yunusobod yo‘nalishida ikkita yangi metro bekati ochildi",
                "<p>Juma kuni ertalab Yunusobod yo‘nalishining uzaytirilgan qismida ikkita bekat yo‘lovchilar "
                "uchun ochildi. Shahar hokimligi ma’lumotiga ko‘ra, yangi qism kuniga 40 000 kishini tashiydi.</p>"
                "<p>Tig‘iz soatlarda poyezdlar har olti daqiqada qatnaydi.</p>",
            ),
        },
    ),
    (
        ["economy"],
        5,
        None,
        {
            "en": (
                "Central bank keeps its key rate unchanged",
                "<p>The Central Bank of Uzbekistan left its key rate unchanged, citing slowing inflation "
                "and steady growth in lending.</p>",
            ),
            "ru": (
                "Центробанк сохранил ключевую ставку без изменений",
                "<p>Центральный банк Узбекистана оставил ключевую ставку без изменений, сославшись на "
                "замедление инфляции и устойчивый рост кредитования.</p>",
            ),
            "uz": (
                "Markaziy bank asosiy stavkani o‘zgarishsiz qoldirdi",
                "<p>O‘zbekiston Markaziy banki inflyatsiyaning sekinlashishi va kreditlashning barqaror o‘sishini "
                "inobatga olib, asosiy stavkani o‘zgarishsiz qoldirdi.</p>",
            ),
        },
    ),
    (
        ["politics"],
        9,
        "https://static.example.uz/img/parliament.png",
        {
            "en": (
                "Parliament passes a law on open government data",
                "<p>The Legislative Chamber adopted a law that obliges ministries to publish their data sets "
                "in machine-readable form.</p>",
            ),
            "ru": (
                "Парламент принял закон об открытых государственных данных",
                "<p>Законодательная палата приняла закон, обязывающий министерства публиковать наборы данных "
                "в машиночитаемом виде.</p>",
            ),
            "uz": (
                "Parlament ochiq davlat ma’lumotlari to‘g‘risidagi qonunni qabul qildi",
                "<p>Qonunchilik palatasi vazirliklarni ma’lumotlar to‘plamlarini mashina o‘qiy oladigan "
                "shaklda e’lon qilishga majbur qiluvchi qonunni qabul qildi.</p>",
            ),
        },
    ),
    (
        ["sport"],
        20,
        None,
        {
            "en": (
                "Pakhtakor wins the national cup final",
                "<p>Pakhtakor beat Nasaf 2–1 in the cup final at the Milliy Stadium in front of 30,000 fans.</p>",
            ),
            "ru": (
                "«Пахтакор» выиграл финал Кубка страны",
                "<p>«Пахтакор» обыграл «Насаф» со счётом 2:1 в финале кубка на стадионе «Миллий» "
                "при 30 000 зрителей.</p>",
            ),
            "uz": (
                "«Paxtakor» mamlakat kubogi finalida g‘olib bo‘ldi",
                "<p>«Paxtakor» «Milliy» stadionida 30 000 muxlis oldida «Nasaf»ni 2:1 hisobida mag‘lub etdi.</p>",
            ),
        },
    ),
    (
        ["culture", "events"],
        30,
        None,
        {
            "en": (
                "Navruz concert programme announced",
                "<p>The city will host open-air concerts in five parks during the Navruz holidays.</p>",
            ),
            "ru": (
                "Объявлена программа концертов на Навруз",
                "<p>В праздники Навруз в пяти парках города пройдут концерты под открытым небом.</p>",
            ),
            "uz": (
                "Navro‘z konsertlari dasturi e’lon qilindi",
                "<p>Navro‘z bayramida shaharning beshta bog‘ida ochiq osmon ostida konsertlar bo‘lib o‘tadi.</p>",
            ),
        },
    ),
]
AUTHORS = {"en": "Newsroom", "ru": "Редакция", "uz": "Tahririyat"}


def has_posts(session: Session) -> bool:
    return session.scalar(select(Post.id).limit(1)) is not None


def ensure_categories(session: Session, site: Site) -> list[Category]:
    existing = {c.slug: c for c in session.scalars(select(Category))}
    for slug, names in CATEGORIES.items():
        if slug not in existing:
            wanted = {lang: name for lang, name in names.items() if lang in site.languages}
            existing[slug] = create_category(session, site, slug, wanted or {site.languages[0]: slug})
    return list(existing.values())


def load_demo(session: Session, site: Site, now: datetime | None = None) -> int:
    ensure_categories(session, site)
    now = now or datetime.now(UTC)
    count = 0
    for categories, hours, image, versions in STORIES:
        original: int | None = None
        for lang in site.languages:
            if lang not in versions:
                continue
            title, body = versions[lang]
            post = create_post(
                session,
                site,
                PostInput(
                    title=title,
                    content=body,
                    language=lang,
                    categories=categories,
                    author=AUTHORS.get(lang),
                    published_at=now - timedelta(hours=hours),
                    image_url=image,
                    translation_of=original,
                ),
            )
            original = original or post.id
            count += 1
    return count


WORDS = {
    "en": "city council market report school river bridge budget festival energy water road".split(),
    "ru": "город совет рынок отчёт школа река мост бюджет фестиваль энергия вода дорога".split(),
    "uz": "shahar kengash bozor hisobot maktab daryo ko‘prik byudjet festival energiya suv yo‘l".split(),
}


def load_synthetic(
    session: Session,
    site: Site,
    count: int,
    *,
    batch: int = 10_000,
    seed: int = 7,
    progress: Callable[[str], None] = lambda _m: None,
) -> int:
    """Bulk-insert ``count`` posts spread over languages and categories (Core inserts, not the ORM)."""
    categories = ensure_categories(session, site)
    session.flush()
    rng = random.Random(seed)
    next_id = (session.scalar(select(func.max(Post.id))) or 0) + 1
    start = datetime.now(UTC).replace(microsecond=0)
    languages = list(site.languages)
    done = 0
    while done < count:
        n = min(batch, count - done)
        posts, links = [], []
        for i in range(n):
            pid = next_id + done + i
            lang = languages[pid % len(languages)]
            words = WORDS.get(lang, WORDS["en"])
            title = " ".join(rng.choice(words) for _ in range(6)).capitalize() + f" {pid}"
            para = " ".join(rng.choice(words) for _ in range(60))
            when = start - timedelta(minutes=3 * pid)  # three minutes apart, back in time
            cat = categories[(pid // len(languages)) % len(categories)]  # every language in every category
            posts.append(
                {
                    "id": pid,
                    "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "language": lang,
                    "slug": f"synthetic-{pid}",
                    "title": title,
                    "summary": para[:200] + "…",
                    "content": f"<p>{para}</p><p>{para[::-1]}</p>",
                    "author": AUTHORS.get(lang),
                    "url": None,
                    "image_url": None,
                    "image_type": None,
                    "image_length": 0,
                    "published_at": when,
                    "updated_at": when,
                    "created_at": start,
                    "translation_group": None,
                    "visible": True,
                }
            )
            links.append([(cat.id, cat.slug)])
        write.insert_posts(session, posts, links)
        done += n
        progress(f"{done}/{count} posts")
    if session.get_bind().dialect.name == "postgresql":
        # Explicit ids leave the sequence behind; move it past them.
        session.execute(
            text("SELECT setval(pg_get_serial_sequence('posts', 'id'), (SELECT max(id) FROM posts))")
        )
    return count
