"""A flash-sale race over several instances, and the audit that checks it kept exact stock.

Buyers (each its own session) order one unit at a time from the instances in turn
until the deal is sold out. A 503 is retried with the same ``Idempotency-Key``
after its ``Retry-After`` (what a well-behaved client does), so the order a key
finally gets is the one the buyer holds. Every answer is recorded: status, code,
whether it was the contract's JSON and carried ``Retry-After``.

:func:`audit` then reads the durable truth (orders in the database) and the
ledger (Redis and the deal's counters) and compares them with what clients were told.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

PASSWORD = "correct horse battery"
BUYER = {"name": "김하나", "phone": "010-1234-5678", "address": "서울시 종로구 1"}
#: The answer that ends a buyer's run: the product is gone (the deal's units first, then
#: the rest of the stock at the list price).
FINAL = frozenset({"sold_out"})


@dataclass(frozen=True)
class Sale:
    special_id: int
    product_id: int
    deal_id: int
    units: int
    stock: int


@dataclass
class Tally:
    """What the clients saw."""

    order_ids: set[int] = field(default_factory=set)
    #: ``"<status> <code>"`` → count, for every answer that was not a new order.
    answers: Counter[str] = field(default_factory=Counter)
    #: Answers outside the contract: a 5xx other than 503-with-code, or a body not JSON.
    bad: list[str] = field(default_factory=list)
    created: int = 0
    replayed: int = 0
    #: Monotonic times of 503 answers and of new orders (recovery is measured from them).
    unavailable_at: list[float] = field(default_factory=list)
    created_at: list[float] = field(default_factory=list)


async def seed(database_url: str, stock: int) -> tuple[int, int]:
    """A host, an operator, a live special and one product of ``stock`` units."""
    from sqlalchemy import insert

    from livemarket.accounts.service import create_user
    from livemarket.checkout.tables import products, special_products, specials
    from livemarket.storage.base import utcnow
    from livemarket.storage.engine import create_engine, session_factory

    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        host = await create_user(sessions, username="drillhost", password=PASSWORD, role="host")
        await create_user(sessions, username="drillop", password=PASSWORD, role="operator")
        now = utcnow()
        async with engine.begin() as conn:
            special_id = (
                await conn.execute(
                    insert(specials)
                    .values(
                        title="drill",
                        starts_at=now - timedelta(minutes=5),
                        ends_at=now + timedelta(hours=2),
                        status="live",
                        host_id=host.id,
                    )
                    .returning(specials.c.id)
                )
            ).scalar_one()
            product_id = (
                await conn.execute(
                    insert(products)
                    .values(sku="DRILL-1", name="드릴 유자청", category="food", price=10_000)
                    .values(stock=stock)
                    .returning(products.c.id)
                )
            ).scalar_one()
            await conn.execute(
                insert(special_products).values(special_id=special_id, product_id=product_id)
            )
    finally:
        await engine.dispose()
    return int(special_id), int(product_id)


async def login(http: Any, base: str, username: str) -> str:
    async with http.post(
        base + "/api/v1/session", json={"username": username, "password": PASSWORD}
    ) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["csrf_token"])


async def open_sale(database_url: str, base: str, units: int, extra_stock: int = 50) -> Sale:
    """Seed, then have the host start a deal of ``units`` over the API."""
    import aiohttp

    stock = units + extra_stock
    special_id, product_id = await seed(database_url, stock)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, base, "drillhost")
        async with http.post(
            f"{base}/api/v1/specials/{special_id}/deals",
            json={
                "product_id": product_id,
                "discount_pct": 30,
                "duration_s": 900,
                "quantity": units,
                "per_buyer_limit": 99,
            },
            headers={"X-CSRF-Token": csrf},
        ) as response:
            assert response.status == 201, await response.text()
            deal = await response.json()
    return Sale(special_id, product_id, int(deal["id"]), units, stock)


def classify(status: int, content_type: str, body: bytes, retry_after: str | None) -> str:
    """``"<status> <code>"``; raises ``ValueError`` for an answer outside the contract."""
    if "application/json" not in content_type:
        raise ValueError(f"{status} {content_type or 'no content type'}: {body[:80]!r}")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"{status} body is not JSON: {body[:80]!r}") from exc
    if status < 400:
        return f"{status} ok"
    code = data.get("error", {}).get("code") if isinstance(data, dict) else None
    if not isinstance(code, str):
        raise ValueError(f"{status} JSON without error.code: {body[:80]!r}")
    if status >= 500 and (status != 503 or not retry_after):
        raise ValueError(f"{status} {code} (retry-after {retry_after!r})")
    return f"{status} {code}"


async def _buyer(bases: list[str], index: int, sale: Sale, tally: Tally, deadline: float) -> None:
    import aiohttp

    body = {
        "special_id": sale.special_id,
        "items": [{"product_id": sale.product_id, "quantity": 1}],
        "buyer": BUYER,
    }
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=timeout
    ) as http:
        csrf = ""
        turn = index
        key = uuid.uuid4().hex
        while time.monotonic() < deadline:
            base = bases[turn % len(bases)]
            turn += 1
            try:
                if not csrf:
                    async with http.get(base + "/api/v1/session") as response:
                        if response.status != 200:
                            await asyncio.sleep(0.2)
                            continue
                        csrf = (await response.json())["csrf_token"]
                async with http.post(
                    base + "/api/v1/orders",
                    json=body,
                    headers={"X-CSRF-Token": csrf, "Idempotency-Key": key},
                ) as response:
                    raw = await response.read()
                    status = response.status
                    content_type = response.headers.get("Content-Type", "")
                    retry_after = response.headers.get("Retry-After")
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                tally.answers[f"connection {type(exc).__name__}"] += 1
                await asyncio.sleep(0.2)
                continue
            try:
                outcome = classify(status, content_type, raw, retry_after)
            except ValueError as exc:
                tally.bad.append(str(exc))
                await asyncio.sleep(0.2)
                continue  # the same key again: the order's fate is still unknown
            if status in (200, 201):
                tally.order_ids.add(int(json.loads(raw)["id"]))
                if status == 201:
                    tally.created += 1
                    tally.created_at.append(time.monotonic())
                else:
                    tally.replayed += 1
                key = uuid.uuid4().hex  # the next unit is a new order
                continue
            tally.answers[outcome] += 1
            code = outcome.split(" ", 1)[1]
            if code in FINAL:
                return
            if status == 503:
                tally.unavailable_at.append(time.monotonic())
                await asyncio.sleep(min(float(retry_after or 1), 1.0))
            else:
                key = uuid.uuid4().hex  # refused: nothing was taken under this key


async def race(bases: list[str], sale: Sale, buyers: int, within_s: float) -> Tally:
    """Run ``buyers`` until each is refused for stock (or ``within_s`` passes)."""
    tally = Tally()
    deadline = time.monotonic() + within_s
    await asyncio.gather(*(_buyer(bases, i, sale, tally, deadline) for i in range(buyers)))
    return tally


@dataclass(frozen=True)
class Audit:
    """The durable truth and the ledger's figures after a race."""

    order_ids: frozenset[int]
    #: Units of the product in live orders, and of those at the deal's price.
    units_in_orders: int
    units_in_deal_orders: int
    deal_sold_db: int
    product_stock_db: int
    deal_left_redis: int | None
    stock_redis: int | None


async def audit(database_url: str, redis_url: str, redis_prefix: str, sale: Sale) -> Audit:
    """Read the orders on the deal, the deal's and product's counters, and Redis's."""
    from redis.asyncio import Redis
    from sqlalchemy import select

    from livemarket.checkout.tables import deals, order_lines, orders, products
    from livemarket.storage.engine import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(orders.c.id, order_lines.c.quantity, order_lines.c.deal_id)
                    .join(order_lines, order_lines.c.order_id == orders.c.id)
                    .where(
                        order_lines.c.product_id == sale.product_id,
                        orders.c.status.notin_(("cancelled", "expired")),
                    )
                )
            ).all()
            sold = (
                await conn.execute(select(deals.c.sold).where(deals.c.id == sale.deal_id))
            ).scalar_one()
            stock = (
                await conn.execute(select(products.c.stock).where(products.c.id == sale.product_id))
            ).scalar_one()
    finally:
        await engine.dispose()
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        left = await client.hget(f"{redis_prefix}checkout:deal:{sale.deal_id}", "left")
        in_redis = await client.get(f"{redis_prefix}checkout:stock:{sale.product_id}")
    finally:
        await client.aclose()
    return Audit(
        frozenset(int(row[0]) for row in rows),
        sum(int(row.quantity) for row in rows),
        sum(int(row.quantity) for row in rows if row.deal_id == sale.deal_id),
        int(sold),
        int(stock),
        None if left is None else int(left),
        None if in_redis is None else int(in_redis),
    )


async def settled_audit(
    database_url: str, redis_url: str, redis_prefix: str, sale: Sale, within_s: float = 10.0
) -> Audit:
    """Audit until the database counters have caught up with Redis (written back each
    second) or ``within_s`` passes; the last audit either way."""
    deadline = time.monotonic() + within_s
    while True:
        found = await audit(database_url, redis_url, redis_prefix, sale)
        caught_up = (
            found.deal_left_redis is not None
            and found.deal_sold_db == sale.units - found.deal_left_redis
            and found.product_stock_db == found.stock_redis
        )
        if caught_up or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.3)


def assert_exact(sale: Sale, tally: Tally, found: Audit) -> None:
    """Orders in the database = orders the clients hold = units the ledger sold, and
    every answer on the way was the contract's."""
    assert not tally.bad, f"{len(tally.bad)} answers outside the contract: {tally.bad[:3]}"
    assert tally.order_ids == found.order_ids, (
        f"answered, not stored: {sorted(tally.order_ids - found.order_ids)[:10]}; "
        f"stored, not answered: {sorted(found.order_ids - tally.order_ids)[:10]}"
    )
    assert found.units_in_deal_orders == sale.units, "the deal did not sell exactly out"
    assert found.units_in_orders == sale.stock, "the product did not sell exactly out"
    assert (found.deal_left_redis, found.deal_sold_db) == (0, sale.units)
    assert (found.stock_redis, found.product_stock_db) == (0, 0)


async def race_with_fault(
    bases: list[str],
    sale: Sale,
    buyers: int,
    after_orders: int,
    fault: Callable[[], None],
    within_s: float = 90,
) -> tuple[Tally, float]:
    """Race, and once ``after_orders`` orders were answered run ``fault`` (blocking, in a
    thread: stop a server, wait, start it). Returns the tally and the monotonic time the
    fault's call returned (the dependency is back)."""
    tally = Tally()
    back_at = 0.0
    deadline = time.monotonic() + within_s

    async def inject() -> None:
        nonlocal back_at
        while tally.created < after_orders and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(fault)
        back_at = time.monotonic()

    await asyncio.gather(
        inject(), *(_buyer(bases, i, sale, tally, deadline) for i in range(buyers))
    )
    return tally, back_at


def assert_consistent(sale: Sale, tallies: Sequence[Tally], found: Audit) -> None:
    """What the clients hold is what the database holds, the database's counters match
    its orders and Redis's match the database's (nothing oversold, nothing leaked)."""
    bad = [answer for tally in tallies for answer in tally.bad]
    held = set().union(*(tally.order_ids for tally in tallies))
    assert not bad, f"{len(bad)} answers outside the contract: {bad[:3]}"
    assert held == found.order_ids, (
        f"answered, not stored: {sorted(held - found.order_ids)[:10]}; "
        f"stored, not answered: {sorted(found.order_ids - held)[:10]}"
    )
    assert found.units_in_deal_orders <= sale.units and found.units_in_orders <= sale.stock
    assert found.deal_sold_db == found.units_in_deal_orders
    assert found.product_stock_db == sale.stock - found.units_in_orders
    assert found.stock_redis == found.product_stock_db, "Redis disagrees with the database"
