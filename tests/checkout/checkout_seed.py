"""Seeding helpers for checkout tests: a host, a live special, products and deals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.checkout.tables import deals, products, special_products, specials
from tests.fakes import FakeClock

__all__ = ["NOW", "FakeClock", "Recorder", "Seed", "seed_special"]

NOW = datetime(2026, 12, 20, 11, 0, tzinfo=UTC)


@dataclass
class Seed:
    engine: AsyncEngine
    host_id: int
    special_id: int

    async def product(self, stock: int, price: int = 12_900, sku: str = "") -> int:
        async with self.engine.begin() as conn:
            product_id = (
                await conn.execute(
                    insert(products)
                    .values(
                        sku=sku or f"sku-{_next()}",
                        name="유자청",
                        category="food",
                        price=price,
                        stock=stock,
                    )
                    .returning(products.c.id)
                )
            ).scalar_one()
            await conn.execute(
                insert(special_products).values(
                    special_id=self.special_id, product_id=product_id, position=product_id
                )
            )
        return int(product_id)

    async def deal(
        self, product_id: int, quantity: int, limit: int = 5, pct: int = 30, minutes: int = 10
    ) -> int:
        async with self.engine.begin() as conn:
            return int(
                (
                    await conn.execute(
                        insert(deals)
                        .values(
                            special_id=self.special_id,
                            product_id=product_id,
                            discount_pct=pct,
                            original_price=12_900,
                            price=12_900 - 12_900 * pct // 100,
                            starts_at=NOW - timedelta(minutes=1),
                            ends_at=NOW + timedelta(minutes=minutes),
                            quantity=quantity,
                            sold=0,
                            per_buyer_limit=limit,
                        )
                        .returning(deals.c.id)
                    )
                ).scalar_one()
            )


_counter = [0]


def _next() -> int:
    _counter[0] += 1
    return _counter[0]


async def seed_special(engine: AsyncEngine, host_id: int | None = None) -> Seed:
    """A live special on ``engine``'s database, hosted by ``host_id`` (or a new host)."""
    from livemarket.accounts.models import User

    users = User.__table__
    async with engine.begin() as conn:
        host_id = (
            host_id
            or (
                await conn.execute(
                    insert(users)
                    .values(
                        username=f"host{_next()}",
                        display_name="Host",
                        role="host",
                        password_hash="x",
                    )
                    .returning(users.c.id)
                )
            ).scalar_one()
        )
        special_id = (
            await conn.execute(
                insert(specials)
                .values(
                    title="Christmas jams",
                    starts_at=NOW - timedelta(minutes=30),
                    ends_at=NOW + timedelta(minutes=30),
                    status="live",
                    host_id=host_id,
                )
                .returning(specials.c.id)
            )
        ).scalar_one()
    return Seed(engine, int(host_id), int(special_id))


class Recorder:
    """Collects every published event, for asserting pushes."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, topic: str, event: Any) -> None:
        self.events.append((topic, dict(event)))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for _topic, event in self.events if event["type"] == kind]
