"""The async engine and session factory for the configured database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from livemarket.config import Settings

#: Age (seconds) after which a pooled PostgreSQL connection is replaced on checkout.
POOL_RECYCLE_S = 600


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout queues writers
    # instead of failing at once; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No ping before every checkout (a round trip per request): connections are
    # replaced after POOL_RECYCLE_S instead, and a dropped one (server restart) raises
    # a disconnect error that invalidates the whole pool, so only the statements in
    # flight fail and the next checkout opens a fresh connection.
    return create_async_engine(url, pool_size=30, max_overflow=10, pool_recycle=POOL_RECYCLE_S)


def engine_for(settings: Settings) -> AsyncEngine:
    """The engine for the settings' database, creating the data folder for SQLite."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_engine(settings.effective_database_url)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (no lazy reload on access)."""
    return async_sessionmaker(engine, expire_on_commit=False)
