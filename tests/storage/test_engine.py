"""The PostgreSQL pool recovers from dropped connections without a ping per checkout."""

from __future__ import annotations

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from livemarket.storage.engine import create_engine


async def test_a_dropped_connection_fails_once_then_the_pool_reconnects(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            own_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        admin = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))
        try:  # the database server drops the pooled connection (as on a restart)
            await admin.execute("SELECT pg_terminate_backend($1)", own_pid)
        finally:
            await admin.close()
        # The pool may hand out the dead connection: its statement fails as a disconnect
        # (invalidating the pool) and the next checkout works on a fresh connection.
        answers = []
        for _ in range(2):
            try:
                async with engine.connect() as conn:
                    answers.append((await conn.execute(text("SELECT 1"))).scalar_one())
            except DBAPIError as exc:
                assert exc.connection_invalidated
                answers.append(None)
        assert answers[-1] == 1
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() != own_pid
    finally:
        await engine.dispose()


def test_no_ping_per_checkout() -> None:
    engine = create_engine("postgresql+asyncpg://u@127.0.0.1/db")
    assert engine.pool._pre_ping is False
    assert 0 < engine.pool._recycle <= 3600
