"""List parameters shared by every collection: ``limit`` (≤ 1000) and an opaque ``cursor``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_LIMIT = 1000


class ListQuery(BaseModel):
    """``limit`` items from ``cursor`` (the ``next`` value of the previous page)."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(100, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, pattern=r"^\d{1,9}$")

    @property
    def offset(self) -> int:
        return int(self.cursor) if self.cursor else 0


def page(items: list[Any], query: ListQuery) -> dict[str, Any]:
    """``{"items", "next"}`` from ``limit + 1`` fetched items."""
    more = len(items) > query.limit
    return {
        "items": items[: query.limit],
        "next": str(query.offset + query.limit) if more else None,
    }
