"""Korean and English text for the pages: language choice, catalogs, date and money formats.

Catalogs are ``i18n/<lang>.json``, nested by page or panel (``{"index": {"live_now": …}}``)
so each part adds its own block without touching the others'; they are flattened to
dotted keys (``index.live_now``). Placeholders are ``{name}``. A key missing in one
language falls back to Korean, then to the key itself, so a gap shows rather than crashes;
``tests/web/test_i18n.py`` keeps the two files' keys identical.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# The rule lives in the domain (reports use it too); pages reach it here as before.
from livemarket.localized import local_name as local_name

SUPPORTED: tuple[str, ...] = ("ko", "en")
DEFAULT_LANG = "ko"
LANG_COOKIE = "lang"
CATALOG_DIR = Path(__file__).parent / "i18n"
#: language -> flattened catalog (dotted key -> text)
Catalogs = dict[str, dict[str, str]]


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": "x"}}`` -> ``{"a.b": "x"}``; leaves must be strings."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, dotted + "."))
        elif isinstance(value, str):
            flat[dotted] = value
        else:
            raise ValueError(f"i18n key {dotted!r}: expected text, got {type(value).__name__}")
    return flat


def load_catalogs(directory: Path = CATALOG_DIR) -> Catalogs:
    """Read every supported language's catalog (flattened). Read once at start-up."""
    catalogs: Catalogs = {}
    for lang in SUPPORTED:
        with (directory / f"{lang}.json").open(encoding="utf-8") as handle:
            catalogs[lang] = flatten(json.load(handle))
    return catalogs


def parse_accept_language(header: str) -> list[str]:
    """Primary language tags from an ``Accept-Language`` header, best first (q-weighted)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):  # bounded: hostile headers
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, index, tag.split("-")[0]))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The page language: the ``lang`` cookie if supported, else the browser's, else Korean."""
    if cookie in SUPPORTED:
        return cookie
    for tag in parse_accept_language(accept_language or ""):
        if tag in SUPPORTED:
            return tag
    return DEFAULT_LANG


class _KeepMissing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Translator:
    """``t("index.live_now")`` in one language; falls back to Korean, then to the key."""

    lang: str
    catalogs: Catalogs

    def __call__(self, key: str, **params: Any) -> str:
        text = self.catalogs[self.lang].get(key)
        if text is None:
            text = self.catalogs[DEFAULT_LANG].get(key, key)
        if params:
            # format_map leaves unknown {names} visible instead of raising mid-page.
            text = text.format_map(_KeepMissing(params))
        return text

    @property
    def catalog(self) -> Mapping[str, str]:
        """This language's whole catalog (Korean filling gaps), for the page's JS."""
        merged = dict(self.catalogs[DEFAULT_LANG])
        merged.update(self.catalogs[self.lang])
        return merged

    def date(self, day: date) -> str:
        """A calendar day as people read it: ``12월 18일 (토)`` / ``Sat 18 Dec``."""
        weekdays = self("format.weekdays").split(",")
        months = self("format.months").split(",")
        return self(
            "format.date",
            year=day.year,
            month=day.month,
            month_name=months[day.month - 1],
            day=day.day,
            weekday=weekdays[day.weekday()],
        )


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """``19:30`` in the display zone (24-hour clock in both languages)."""
    return moment.astimezone(zone).strftime("%H:%M")


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar day ``moment`` falls on in the display zone (Seoul, not UTC)."""
    return moment.astimezone(zone).date()


def format_krw(amount: int) -> str:
    """``₩12,900``: won have no minor unit, so always a whole number."""
    sign = "-" if amount < 0 else ""
    return f"{sign}₩{abs(int(amount)):,}"
