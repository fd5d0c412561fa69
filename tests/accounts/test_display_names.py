"""Staff display names: what viewers see next to a host's or operator's chat lines."""

from __future__ import annotations

import pytest

from livemarket.accounts.service import DISPLAY_NAME_MAX, validate_display_name
from livemarket.errors import DomainError


def test_names_are_tidied_and_markup_is_kept_as_text() -> None:
    """Spaces collapse, Hangul is NFC; markup stays (it is escaped wherever it is shown)."""
    assert validate_display_name("  김   민지 ") == "김 민지"
    decomposed = "\u1100\u1161"  # 가 as two jamo
    assert validate_display_name(decomposed) == "가"
    assert validate_display_name("<b>Joon</b>") == "<b>Joon</b>"


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * (DISPLAY_NAME_MAX + 1), "Min\u202eji", "Min\u200dji", "Minji\x07"],
)
def test_empty_long_and_disguised_names_are_refused(name: str) -> None:
    """Empty, over-long, bidi overrides, zero-width joiners and controls: refused."""
    with pytest.raises(DomainError) as refused:
        validate_display_name(name)
    assert refused.value.code == "display_name_invalid"
