"""The site as feeds and pages describe it: names, languages and absolute URLs."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import Flask, current_app

# Native names, used in feed titles ("Tashkent News — Русский").
LANGUAGE_NAMES = {"en": "English", "ru": "Русский", "uz": "O‘zbekcha"}
DESCRIPTIONS = {
    "en": "Latest news from {site}",
    "ru": "Последние новости — {site}",
    "uz": "{site}: so‘nggi yangiliklar",
}
ALL_LANGUAGES_TITLE = "{site}"


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    base_url: str
    languages: tuple[str, ...]
    zone: ZoneInfo

    def url(self, path: str) -> str:
        return self.base_url + path

    def post_url(self, language: str, slug: str, external_url: str | None = None) -> str:
        return external_url or f"{self.base_url}/{language}/posts/{slug}"

    def language_name(self, language: str) -> str:
        return LANGUAGE_NAMES.get(language, language)

    def category_label(self, names: dict[str, str], language: str | None, slug: str) -> str:
        """The one rule for a category's label everywhere (feeds, pages, OPML): its name in the
        language, else in the first configured language that has one, else its slug."""
        for lang in (language, *self.languages):
            if lang is not None and names.get(lang):
                return names[lang]
        return next((name for name in names.values() if name), slug)

    def title(self, language: str | None, category_label: str | None = None) -> str:
        """The title of a scope's feeds and pages: site, site — language, or site — category."""
        if language is None:
            return self.name
        return f"{self.name} — {category_label or self.language_name(language)}"

    def description(self, language: str | None) -> str:
        template = DESCRIPTIONS.get(language or "en", DESCRIPTIONS["en"])
        return template.format(site=self.name)


def init_app(app: Flask) -> None:
    app.extensions["feedsvc.site"] = Site(
        name=app.config["SITE_NAME"],
        base_url=app.config["BASE_URL"],
        languages=app.config["LANGUAGE_LIST"],
        zone=app.config["ZONE"],
    )


def site() -> Site:
    return current_app.extensions["feedsvc.site"]
