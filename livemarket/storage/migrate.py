"""Run Alembic migrations programmatically (``livemarket migrate``, and ``serve`` on SQLite).

Migrations live in the repository's top-level ``migrations/`` folder (the design
card's layout); LiveMarket is run from a checkout installed in editable mode.
Alembic's ``env.py`` starts its own event loop, so from async code the upgrade
runs in a worker thread (``upgrade_async``) and never blocks the server's loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (blocking; not inside a running loop)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """``upgrade`` from async code, in a thread."""
    await asyncio.to_thread(upgrade, url, revision)
