"""Optimistic edits: a write based on a version the writer saw, refused when it is stale."""

from __future__ import annotations

from livemarket.errors import Conflict, DomainError, ErrorKind


def check_version(current: int, expected: int | None, *, from_header: bool, what: str) -> None:
    """Refuse a write based on a stale version: 412 for ``If-Match``, 409 for a body field.

    ``what`` names the thing in the message ("special", "product"); ``expected`` ``None``
    means the writer did not say, and the write goes through.
    """
    if expected is None or expected == current:
        return
    message = f"the {what} changed since you loaded it; reload and try again"
    if from_header:
        raise DomainError(
            "precondition_failed", message, kind=ErrorKind.PRECONDITION, version=current
        )
    raise Conflict("version_conflict", message, version=current)
