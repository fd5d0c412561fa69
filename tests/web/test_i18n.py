"""Page languages: negotiation, the two catalogs kept in step, formats of dates and money."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from livemarket.scheduler.queries import get_special
from livemarket.web import i18n
from livemarket.web.typedefs import SESSIONS_KEY
from tests.conftest import UserMaker, login
from tests.fakes import add_special

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


KEY_USE = re.compile(r"""\bt\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")


def _keys_used(paths: list[Path]) -> dict[str, str]:
    used: dict[str, str] = {}
    for path in paths:
        for key in KEY_USE.findall(path.read_text(encoding="utf-8")):
            used.setdefault(key, path.name)
    return used


def test_every_key_used_by_templates_and_scripts_exists() -> None:
    """Literal keys in t("…") (templates) and LM.t("…") (scripts) are in both catalogs."""
    used = _keys_used([*WEB.glob("templates/**/*.html"), *WEB.glob("static/js/**/*.js")])
    assert used, "found no translated text at all"
    for lang, catalog in i18n.load_catalogs().items():
        missing = {key: where for key, where in used.items() if key not in catalog}
        assert missing == {}, lang


#: The streaming pages' files: every text people see comes from the catalogs.
STREAMING_TEMPLATES = (
    "templates/panels/player.html",
    "templates/panels/studio_broadcast.html",
    "templates/studio.html",
    "templates/watch.html",
)
STREAMING_SCRIPTS = (
    "static/js/player.js",
    "static/js/hls_player.js",
    "static/js/studio_broadcast.js",
)
_JS_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_JS_STRING = re.compile(r""""((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'""")


def test_streaming_scripts_hold_no_sentences() -> None:
    """The player and studio scripts take every text from the catalog: no prose literals.

    A literal with two words in a row is text for people (code uses keys, selectors,
    MIME types); the player's and studio's keys are all used and all translated.
    """
    for name in STREAMING_SCRIPTS:
        code = _JS_COMMENT.sub("", (WEB / name).read_text(encoding="utf-8"))
        literals = [a or b for a, b in _JS_STRING.findall(code)]
        prose = [text for text in literals if re.search(r"[A-Za-z]{2,} +[A-Za-z]{2,}", text)]
        assert prose == ["use strict"], name
    used = _keys_used([WEB / name for name in (*STREAMING_TEMPLATES, *STREAMING_SCRIPTS)])
    assert {key.split(".")[0] for key in used} >= {"player", "broadcast", "watch", "studio"}
    ko = i18n.load_catalogs()["ko"]
    for prefix in ("player.", "broadcast."):
        unused = {key for key in ko if key.startswith(prefix)} - set(used)
        assert unused == set(), prefix


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


class _PanelText(HTMLParser):
    """Text people see (and aria labels) inside the element with ``element_id``."""

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id = element_id
        self.depth = 0  # > 0 inside the element
        self.skip = 0  # inside <style> or <script>
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self.depth or values.get("id") == self.element_id:
            if tag not in ("input", "br", "img", "source"):  # void elements never close
                self.depth += 1
            for name in ("aria-label", "title", "placeholder", "alt"):
                if values.get(name):
                    self.texts.append(str(values[name]))
        if tag in ("style", "script"):
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.skip -= 1
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and not self.skip and data.strip():
            self.texts.append(data.strip())


def _panel_text(html: str, element_id: str, *, besides: str = "") -> list[str]:
    parser = _PanelText(element_id)
    parser.feed(html)
    assert parser.texts, f"#{element_id} not found or empty"
    return [text for text in parser.texts if text != besides]


#: Units, not words: the same in both languages.
UNITS = {"kbps", "fps"}


def _english_words(texts: list[str]) -> set[str]:
    return {w for text in texts for w in re.findall(r"[A-Za-z]{3,}", text)} - UNITS


async def test_watch_and_studio_panels_are_korean_in_korean(
    client: TestClient[Any, Any], make_user: UserMaker
) -> None:
    """In Korean, the player and broadcast panels show no English word; in English, English."""
    host = await make_user("host", "hana")
    app = client.server.app
    special_id = await add_special(app[SESSIONS_KEY], host.id)
    async with app[SESSIONS_KEY]() as db:
        title = (await get_special(db, special_id)).title  # the host's words, not ours
    await login(client, "hana")
    pages = ((f"/specials/{special_id}", "lm-player"), (f"/studio/{special_id}", "lm-broadcast"))
    catalogs = i18n.load_catalogs()
    for path, element_id in pages:
        korean = await (await client.get(path, headers={"Accept-Language": "ko-KR"})).text()
        assert _english_words(_panel_text(korean, element_id, besides=title)) == set(), path
        english = await (await client.get(path, headers={"Accept-Language": "en"})).text()
        assert _english_words(_panel_text(english, element_id, besides=title)), path
    studio = await (await client.get(f"/studio/{special_id}")).text()
    assert catalogs["ko"]["broadcast.go_live"] in _panel_text(studio, "lm-broadcast")


def test_pages_and_scripts_draw_no_emoji() -> None:
    """Icons are inline SVG: an emoji is an empty box on a machine without an emoji font."""
    import re

    from livemarket.web.templating import STATIC_DIR

    emoji = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")
    roots = (STATIC_DIR, STATIC_DIR.parent / "templates", STATIC_DIR.parent / "i18n")
    found = [
        f"{path.name}: {match.group()!r}"
        for root in roots
        for path in sorted(root.rglob("*"))
        if path.suffix in {".html", ".js", ".css", ".json"}
        for match in emoji.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
