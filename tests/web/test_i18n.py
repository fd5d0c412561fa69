"""Page languages: negotiation, the two catalogs kept in step, formats of dates and money."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from livemarket.web import i18n

WEB = Path(i18n.__file__).parent
SEOUL = ZoneInfo("Asia/Seoul")


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "ko"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "fr-FR,fr;q=0.9,en;q=0.8,ko;q=0.7", "en"),
        (None, "en;q=0.5, ko;q=0.9", "ko"),
        (None, "de, *;q=0.1", "ko"),
        (None, "en;q=0, ko-KR", "ko"),
        (None, "en;q=bogus", "ko"),
        ("en", "ko-KR", "en"),
        ("xx", "en", "en"),
        ("", None, "ko"),
    ],
)
def test_negotiate(cookie: str | None, header: str | None, expected: str) -> None:
    """The cookie wins when supported, then the browser's weighted choice, then Korean."""
    assert i18n.negotiate(cookie, header) == expected


def test_hostile_accept_language_is_bounded() -> None:
    """A huge header is only read so far and cannot make negotiation slow or fail."""
    assert i18n.negotiate(None, "zz;q=0.1," * 100_000 + "en") == "ko"


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    """Every text exists in Korean and English, with the same {placeholders}, and is not empty.

    Date patterns (``format.*``) are exempt from the placeholder check: each language
    picks what it shows from the same set of values (month number or month name).
    """
    catalogs = i18n.load_catalogs()
    ko, en = catalogs["ko"], catalogs["en"]
    assert sorted(set(ko) ^ set(en)) == []
    for key in ko:
        assert ko[key].strip() and en[key].strip(), key
        if not key.startswith("format."):
            assert _placeholders(ko[key]) == _placeholders(en[key]), key


def test_every_key_used_by_templates_and_scripts_exists() -> None:
    """Literal keys in t("…") (templates) and LM.t("…") (scripts) are all in the catalogs."""
    known = set(i18n.load_catalogs()["ko"])
    pattern = re.compile(r"""\bt\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")
    used: dict[str, str] = {}
    for path in [*WEB.glob("templates/**/*.html"), *WEB.glob("static/js/**/*.js")]:
        for key in pattern.findall(path.read_text(encoding="utf-8")):
            used.setdefault(key, path.name)
    assert used, "found no translated text at all"
    missing = {key: where for key, where in used.items() if key not in known}
    assert missing == {}


def test_translator_falls_back_and_formats() -> None:
    """Missing English falls back to Korean, unknown keys show themselves, params fill in."""
    catalogs = {"ko": {"a.b": "안녕 {name}", "a.only_ko": "한국어만"}, "en": {"a.b": "Hi {name}"}}
    t = i18n.Translator("en", catalogs)
    assert t("a.b", name="<b>") == "Hi <b>"  # escaping is the template's job
    assert t("a.only_ko") == "한국어만"
    assert t("a.missing") == "a.missing"
    assert t("a.b") == "Hi {name}"
    assert t("a.b", other=1) == "Hi {name}"
    assert t.catalog == {"a.b": "Hi {name}", "a.only_ko": "한국어만"}


def test_flatten_refuses_non_text_leaves() -> None:
    """A number or list in a catalog is a mistake caught at start-up, with the key named."""
    assert i18n.flatten({"a": {"b": "x", "c": {"d": "y"}}}) == {"a.b": "x", "a.c.d": "y"}
    with pytest.raises(ValueError, match="a.n"):
        i18n.flatten({"a": {"n": 3}})


def test_dates_read_naturally_in_both_languages() -> None:
    """18 Dec 2021 was a Saturday: 12월 18일 (토) / Sat 18 Dec."""
    catalogs = i18n.load_catalogs()
    assert i18n.Translator("ko", catalogs).date(date(2021, 12, 18)) == "12월 18일 (토)"
    assert i18n.Translator("en", catalogs).date(date(2021, 12, 18)) == "Sat 18 Dec"


def test_times_are_shown_in_seoul() -> None:
    """15:30 UTC is 00:30 the next day in Seoul, whatever the server's own zone."""
    moment = datetime(2021, 12, 18, 15, 30, tzinfo=UTC)
    assert i18n.local_time(moment, SEOUL) == "00:30"
    assert i18n.local_date(moment, SEOUL) == date(2021, 12, 19)


def test_format_krw() -> None:
    """Won are whole numbers with thousands separators and the ₩ sign."""
    assert i18n.format_krw(12900) == "₩12,900"
    assert i18n.format_krw(0) == "₩0"
    assert i18n.format_krw(1_000_000) == "₩1,000,000"
    assert i18n.format_krw(-500) == "-₩500"
