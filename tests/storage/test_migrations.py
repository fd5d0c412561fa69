"""Migrations: up from empty on SQLite and PostgreSQL, and the schema they build is the models'."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from livemarket.storage.engine import create_engine
from livemarket.storage.migrate import upgrade_async
from livemarket.storage.models import Base


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, Base.metadata))


async def _check_schema(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            diff = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    assert diff == [], f"migrations and models differ: {diff}"


async def test_sqlite_migrates_up_from_empty(tmp_path: Path) -> None:
    """An empty SQLite file reaches head and holds exactly the models' schema."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    await upgrade_async(url)
    await _check_schema(url)


async def test_migrating_twice_is_harmless(tmp_path: Path) -> None:
    """Running the migrations on a database already at head changes nothing."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    await upgrade_async(url)
    await upgrade_async(url)
    await _check_schema(url)


async def test_postgres_migrates_up_from_empty(postgres_url: str) -> None:
    """The template database built by the migrations on PostgreSQL matches the models."""
    await _check_schema(postgres_url)
