"""Which dependency an exception says is away: the database, Redis, or something unnamed.

A server whose PostgreSQL or Redis is down must answer ``503`` with a stable
code and ``Retry-After`` (the client retries; an idempotency key makes that
safe), never a bare 500. Errors surface in many shapes (SQLAlchemy wrapping
asyncpg, asyncpg's own, redis-py's, a raw ``ConnectionRefusedError`` from a
connect), so this looks at the exception, its causes, and, for a bare socket
error, which library raised it. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from redis import exceptions as redis_errors
from sqlalchemy import exc as sa_errors


@dataclass(frozen=True)
class Outage:
    """A 503 answer: stable code, message, seconds to wait."""

    code: str
    message: str
    retry_after_s: int


DATABASE = Outage("database_unavailable", "The database is unavailable; retry shortly.", 2)
REDIS = Outage("redis_unavailable", "Redis is unavailable; retry shortly.", 1)
OTHER = Outage("service_unavailable", "A service this needs is unavailable; retry shortly.", 2)

#: SQLSTATE classes meaning "cannot talk to the server now": 08 connection exception,
#: 53 insufficient resources (too many connections), 57 operator intervention
#: (admin shutdown, cannot connect now), 58 system error.
_PG_DOWN_CLASSES = ("08", "53", "57", "58")

_REDIS_DOWN = (
    redis_errors.ConnectionError,  # BusyLoadingError (still loading) is one too
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,  # a failover left us on a replica
    redis_errors.MasterDownError,
    redis_errors.TryAgainError,
)
_DATABASE_MODULES = ("sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "psycopg")


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from or during, outermost first (no cycles)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _raised_in(tb: TracebackType | None) -> str:
    """The top-level package of the innermost frame from a known client library."""
    found = ""
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        top = module.split(".", 1)[0]
        if top == "redis" or top in _DATABASE_MODULES:
            found = top
        tb = tb.tb_next
    return found


def _sqlstate(exc: object) -> str:
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return state if isinstance(state, str) else ""


def outage_of(exc: BaseException) -> Outage | None:
    """The outage ``exc`` reports, or None when it is not a dependency being away."""
    for cause in _causes(exc):
        if isinstance(cause, _REDIS_DOWN):
            return REDIS
        if isinstance(cause, sa_errors.DBAPIError):
            if cause.connection_invalidated or isinstance(
                cause, sa_errors.OperationalError | sa_errors.InterfaceError
            ):
                return DATABASE
            if _sqlstate(cause.orig).startswith(_PG_DOWN_CLASSES):
                return DATABASE
        if isinstance(cause, sa_errors.TimeoutError | sa_errors.DisconnectionError):
            return DATABASE  # no pooled connection came free, or it broke
        if _sqlstate(cause).startswith(_PG_DOWN_CLASSES):
            return DATABASE  # asyncpg's own, unwrapped
    for cause in _causes(exc):
        if isinstance(cause, OSError | ConnectionError | TimeoutError | EOFError):
            library = _raised_in(cause.__traceback__)
            if library == "redis":
                return REDIS
            if library:
                return DATABASE
    for cause in _causes(exc):
        if isinstance(cause, ConnectionError | TimeoutError):
            return OTHER
    return None
