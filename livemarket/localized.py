"""Names kept in two languages (products, partner platforms) and which one a page shows."""

from __future__ import annotations


def local_name(lang: str, ko: str, en: str | None) -> str:
    """The one rule for a name kept in two languages (products, partner platforms): the
    English name in the English interface when there is one, else the Korean original.

    Pages, dialogs, the QR sheet, reports and scripts (``LM.localName``) all follow it.
    """
    return en if lang == "en" and en else ko
