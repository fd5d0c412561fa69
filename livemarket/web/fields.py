"""The field types every API body, query and path shares, so each rule lives once.

* ``Id``: a row id, 1 to 2^31 - 1 (PostgreSQL's ``integer``; SQLite's is wider), and
  ``path_id`` for the same range in a URL (ASCII digits only: ``"¹".isdigit()`` is true
  but ``int("¹")`` fails).
* ``Body``: strict JSON types: ``"50"`` or ``true`` is not a number (``true`` would be 1).
* ``Line`` / ``Prose``: text without controls or bidi overrides (``livemarket.text``).
* ``Instant``: an aware time inside years 1970-2999 in UTC, so arithmetic on it (an end
  plus a grace, a calendar's ``DTEND``) can never overflow ``datetime``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from livemarket.text import check_text

MAX_ID = 2**31 - 1
_MAX_ID_DIGITS = len(str(MAX_ID))
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _line(value: str) -> str:
    return check_text(value)


def _prose(value: str) -> str:
    return check_text(value, multiline=True)


def _instant(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:  # year 1 at +14:00, year 9999 at -14:00
        raise ValueError("the time is out of range") from exc
    if not EARLIEST <= utc <= LATEST:
        raise ValueError("the time must fall between 1970 and 2999")
    return value


#: One line of text (names, titles, references): no controls, no bidi overrides.
Line = Annotated[str, AfterValidator(_line)]
#: Multi-line text (descriptions): as ``Line``, but line breaks and tabs are allowed.
Prose = Annotated[str, AfterValidator(_prose)]
Instant = Annotated[AwareDatetime, AfterValidator(_instant)]


def _day(value: date) -> date:
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError("the day must fall between 1970 and 2999")
    return value


#: A calendar day inside the same years as ``Instant``.
Day = Annotated[date, AfterValidator(_day)]


class Body(BaseModel):
    """A JSON request body: unknown fields refused, types strict (no ``"50"`` for 50)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def path_id(raw: str) -> int | None:
    """The id a URL segment names, or None when it cannot name a row."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_ID_DIGITS:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None
