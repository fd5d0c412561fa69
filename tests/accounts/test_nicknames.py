"""Default nicknames: in the page's language, and following a language switch."""

from __future__ import annotations

import re

from livemarket.accounts.nicknames import nickname_in_language, random_nickname, validate_nickname


def test_default_nickname_is_in_the_page_language_and_valid() -> None:
    """English viewers are "Viewer1234", Korean ones "시청자1234"; both pass validation."""
    english, korean = random_nickname("en"), random_nickname("ko")
    assert re.fullmatch(r"Viewer\d{4}", english)
    assert re.fullmatch(r"시청자\d{4}", korean)
    assert validate_nickname(english) == english and validate_nickname(korean) == korean
    assert re.fullmatch(r"시청자\d{4}", random_nickname("fr"))


def test_only_a_default_nickname_follows_a_language_switch() -> None:
    """The number stays; a name the viewer chose never changes."""
    assert nickname_in_language("시청자4821", "en") == "Viewer4821"
    assert nickname_in_language("Viewer4821", "ko") == "시청자4821"
    assert nickname_in_language("Viewer4821", "en") == "Viewer4821"
    for chosen in ("Rudolph", "Viewer 4821", "Viewer48210", "산타시청자4821"):
        assert nickname_in_language(chosen, "en") == chosen
    assert nickname_in_language("시청자4821", "fr") == "시청자4821"
