"""What free text may hold: the one rule every stored name, title and description follows.

No I/O. Controls (C0, DEL, C1) and lone surrogates break databases and terminals
(PostgreSQL refuses NUL; a surrogate is not encodable), and bidi overrides and
isolates make text read differently from what it is (a title that shows a price it
does not have). Line breaks and tabs are allowed only in multi-line text.
"""

from __future__ import annotations

import unicodedata

#: Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the marks.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_LINE_BREAKS = frozenset("\n\r\t")


def refused_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character ``value`` may not hold, or None when it is clean text."""
    if value.isprintable():  # the usual case, checked in C
        return None
    for ch in value:
        if multiline and ch in _LINE_BREAKS:
            continue
        if ch in BIDI_CONTROLS or unicodedata.category(ch) in {"Cc", "Cs"}:
            return ch
    return None


def check_text(value: str, *, multiline: bool = False) -> str:
    """``value`` unchanged, or ``ValueError`` naming the refused character's code point."""
    bad = refused_character(value, multiline=multiline)
    if bad is not None:
        kind = "bidi control" if bad in BIDI_CONTROLS else "control character"
        raise ValueError(f"text may not hold the {kind} U+{ord(bad):04X}")
    return value
