"""The one exception type domains raise; the web layer maps its kind to an HTTP status.

Domains never import ``web/``: they say *what* went wrong (a stable ``code`` such
as ``discount_over_cap`` and a human message) and *which kind* of wrong it is;
``web/errors.py`` turns the kind into 404/409/422/… in one place.
"""

from __future__ import annotations

from enum import Enum


class ErrorKind(Enum):
    MALFORMED = "malformed"  # the request cannot be read (a broken SDP offer) -> 400
    INVALID = "invalid"  # the request breaks a rule -> 422
    NOT_FOUND = "not_found"  # -> 404
    CONFLICT = "conflict"  # clashes with current state -> 409
    FORBIDDEN = "forbidden"  # authenticated but not allowed -> 403
    UNAUTHENTICATED = "unauthenticated"  # -> 401
    LIMITED = "limited"  # rate limit or capacity -> 429
    PRECONDITION = "precondition"  # stale If-Match/version -> 412
    UNAVAILABLE = "unavailable"  # capacity reached, retry later -> 503


class DomainError(Exception):
    """A rule was broken; ``code`` is stable for clients, ``message`` is for people."""

    kind: ErrorKind = ErrorKind.INVALID

    def __init__(
        self, code: str, message: str, *, kind: ErrorKind | None = None, **details: object
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if kind is not None:
            self.kind = kind
        self.details = details


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND


class Conflict(DomainError):
    kind = ErrorKind.CONFLICT


class Forbidden(DomainError):
    kind = ErrorKind.FORBIDDEN
