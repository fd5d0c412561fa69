"""The PostgreSQL group-commit writer: one statement per batch, one answer per order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.checkout.pg_writer import OrderWrite, PgOrderWriter
from livemarket.checkout.sqlite_writer import Earlier
from livemarket.checkout.tables import order_lines, orders
from livemarket.storage.engine import create_engine

from .checkout_seed import NOW, Seed, seed_special


@pytest.fixture
async def pg_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url)
    yield engine
    await engine.dispose()


def write(key: str, special_id: int | None, product_id: int, quantity: int = 1) -> OrderWrite:
    return OrderWrite(
        {
            "idempotency_key": key,
            "buyer_key": "v:1",
            "special_id": special_id,
            "status": "reserved",
            "buyer_name": "김민수",
            "buyer_phone": "010-1234-5678",
            "buyer_address": "서울특별시 중구 세종대로 110",
            "total": 9_030 * quantity,
            "payment_method": "bank_transfer",
            "hold_expires_at": NOW + timedelta(minutes=10),
            "created_at": NOW,
        },
        [(product_id, quantity, 9_030, 12_900, None)],
    )


async def count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def seeded(engine: AsyncEngine) -> tuple[Seed, int]:
    seed = await seed_special(engine)
    return seed, await seed.product(stock=100)


async def test_a_batch_writes_every_order_with_its_lines(pg_engine: AsyncEngine) -> None:
    """Concurrent orders are written together; each caller gets its own new id."""
    seed, product_id = await seeded(pg_engine)
    writer = PgOrderWriter(pg_engine)
    ids = await asyncio.gather(
        *(
            writer.write(write(f"batch-{i}", seed.special_id, product_id, 1 + i % 3))
            for i in range(30)
        )
    )
    await writer.close()
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 30
    assert await count(pg_engine, orders) == 30
    assert await count(pg_engine, order_lines) == 30
    async with pg_engine.connect() as conn:
        quantity = (
            await conn.execute(
                select(order_lines.c.quantity)
                .join(orders, orders.c.id == order_lines.c.order_id)
                .where(orders.c.idempotency_key == "batch-4")
            )
        ).scalar_one()
    assert quantity == 2


async def test_a_duplicate_key_in_a_batch_gets_its_twins_order(pg_engine: AsyncEngine) -> None:
    """The same key twice in one batch writes one order; the twin gets it as ``Earlier``."""
    seed, product_id = await seeded(pg_engine)
    writer = PgOrderWriter(pg_engine, workers=1)
    answers = await asyncio.gather(
        writer.write(write("twin-key", seed.special_id, product_id)),
        writer.write(write("other-key", seed.special_id, product_id)),
        writer.write(write("twin-key", seed.special_id, product_id)),
    )
    assert isinstance(answers[0], int) and isinstance(answers[1], int)
    assert answers[2] == Earlier(answers[0])
    again = await writer.write(write("twin-key", seed.special_id, product_id))
    await writer.close()
    assert again == Earlier(answers[0])  # a later retry finds the stored order
    assert await count(pg_engine, orders) == 2
    assert await count(pg_engine, order_lines) == 2


async def test_a_failing_order_does_not_fail_its_batch(pg_engine: AsyncEngine) -> None:
    """An order naming no special fails alone; the others of its batch are written."""
    seed, product_id = await seeded(pg_engine)
    writer = PgOrderWriter(pg_engine, workers=1)
    answers = await asyncio.gather(
        writer.write(write("good-1", seed.special_id, product_id)),
        writer.write(write("bad-1", 999_999, product_id)),
        writer.write(write("good-2", None, product_id)),
        return_exceptions=True,
    )
    await writer.close()
    assert isinstance(answers[0], int) and isinstance(answers[2], int)
    assert isinstance(answers[1], DBAPIError)
    assert await count(pg_engine, orders) == 2
    assert await count(pg_engine, order_lines) == 2
