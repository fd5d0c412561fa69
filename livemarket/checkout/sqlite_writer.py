"""The embedded mode's order writer: a batch of orders, one transaction, one thread hop.

aiosqlite runs each statement in its own thread and hands every result back to the
event loop: an order is about eight statements, so eight hand-offs, and under a
crowd the loop's queue makes each one slow (about 120 orders/s in-process on the
reference machine). Here the price read, the caller's pure planning (pricing and
the cheap sold-out check), the same conditional statements as :mod:`ledger_sql`
and the inserts run inside one ``BEGIN IMMEDIATE … COMMIT`` on a dedicated thread with
its own connection (about 2,500 orders/s one by one); orders arriving meanwhile are
batched into the next transaction, one savepoint each. The rules are unchanged: ``stock >= q``
and ``sold + q <= quantity`` are checked by SQLite inside the transaction, and any
refusal rolls the whole order back.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError

from livemarket.checkout.batcher import Batcher
from livemarket.checkout.ledger import (
    Hold,
    Remaining,
    deal_ended,
    deal_sold_out,
    limit_reached,
    sold_out,
)

_TAKE_DEAL = (
    "UPDATE flash_deals SET sold = sold + ? WHERE id = ? AND ended_at IS NULL "
    "AND ends_at > ? AND sold + ? <= quantity RETURNING quantity - sold"
)
_DEAL_STATE = "SELECT ended_at, ends_at FROM flash_deals WHERE id = ?"
_TAKE_BUYER = (
    "INSERT INTO deal_buyers (deal_id, buyer_key, units) VALUES (?, ?, ?) "
    "ON CONFLICT (deal_id, buyer_key) DO UPDATE SET units = deal_buyers.units + excluded.units "
    "WHERE deal_buyers.units + excluded.units <= ? RETURNING units"
)
_BUYER_UNITS = "SELECT units FROM deal_buyers WHERE deal_id = ? AND buyer_key = ?"
_TAKE_STOCK = "UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ? RETURNING stock"
#: The ``orders`` columns an order insert writes (both write paths use this list).
ORDER_COLUMNS = (
    "idempotency_key",
    "buyer_key",
    "special_id",
    "status",
    "buyer_name",
    "buyer_phone",
    "buyer_address",
    "total",
    "payment_method",
    "hold_expires_at",
    "created_at",
)
_INSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ORDER_COLUMNS)}) RETURNING id"
)
_INSERT_LINE = (
    "INSERT INTO order_lines (order_id, product_id, quantity, unit_price, list_price, deal_id) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)

_EXISTING = "SELECT id FROM orders WHERE idempotency_key = ?"
# Same columns and names as ``orders._price_query`` (products and their open deal).
_PRICES = (
    "SELECT p.id AS product_id, p.price AS list_price, p.stock AS stock, d.id AS id, "
    "d.special_id AS special_id, d.discount_pct AS discount_pct, "
    "d.original_price AS original_price, d.price AS price, d.starts_at AS starts_at, "
    "d.ends_at AS ends_at, d.quantity AS quantity, d.sold AS sold, "
    "d.per_buyer_limit AS per_buyer_limit, d.ended_at AS ended_at, "
    "d.ended_reason AS ended_reason, s.status AS special_status "
    "FROM products p LEFT JOIN flash_deals d ON d.product_id = p.id AND d.ended_at IS NULL "
    "LEFT JOIN specials s ON s.id = d.special_id "
    "WHERE p.id IN ({marks})"
)
_TIMES = ("starts_at", "ends_at", "ended_at")


@dataclass(frozen=True)
class WritePlan:
    """What to write for one order, decided by the caller from the rows it was shown."""

    holds: Sequence[Hold]
    order: dict[str, Any]
    #: ``(product_id, quantity, unit_price, list_price, deal_id)`` per line.
    lines: Sequence[tuple[int, int, int, int, int | None]]


#: Called in the writer thread with the price rows; pure (no I/O); may raise a refusal.
Planner = Callable[[Sequence[Any]], WritePlan]


@dataclass(frozen=True)
class Written:
    remaining: list[Remaining]
    order_id: int


@dataclass(frozen=True)
class Earlier:
    """The request's idempotency key already has an order (a retry): this one."""

    order_id: int


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _row(raw: sqlite3.Row) -> SimpleNamespace:
    values = dict(zip(raw.keys(), tuple(raw), strict=True))
    for name in _TIMES:
        values[name] = _parse_time(values[name])
    return SimpleNamespace(**values)


# The exact text SQLAlchemy stores for a DateTime on SQLite, so comparisons agree.
_DATETIME = sqlite_dialect.DATETIME().bind_processor(sqlite_dialect.dialect())


def stored(moment: datetime) -> str:
    """``moment`` as the SQLite column holds it (naive UTC text, microseconds)."""
    assert _DATETIME is not None
    return str(_DATETIME(moment.astimezone(UTC).replace(tzinfo=None)))


def _one(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> Any:
    rows = conn.execute(sql, params).fetchall()
    return rows[0][0] if rows else None


def _take(
    conn: sqlite3.Connection, buyer_key: str, holds: Sequence[Hold], now: str
) -> list[Remaining]:
    out = []
    for hold in holds:
        left = None
        if hold.deal_id is not None:
            q, deal_id = hold.quantity, hold.deal_id
            left = _one(conn, _TAKE_DEAL, (q, deal_id, now, q))
            if left is None:
                state = conn.execute(_DEAL_STATE, (deal_id,)).fetchone()
                if state is None or state[0] is not None or state[1] <= now:
                    raise deal_ended(hold.product_id, deal_id)
                raise deal_sold_out(hold.product_id, deal_id)
            units = _one(conn, _TAKE_BUYER, (deal_id, buyer_key, q, hold.per_buyer_limit))
            if units is None or units > hold.per_buyer_limit:
                had = _one(conn, _BUYER_UNITS, (deal_id, buyer_key)) or 0
                raise limit_reached(hold.product_id, hold.per_buyer_limit, int(had))
        stock = _one(conn, _TAKE_STOCK, (hold.quantity, hold.product_id, hold.quantity))
        if stock is None:
            raise sold_out(hold.product_id)
        out.append(Remaining(hold.product_id, int(stock), hold.deal_id, left))
    return out


@dataclass(frozen=True)
class _Job:
    product_ids: Sequence[int]
    key: str
    buyer_key: str
    now: datetime
    plan: Planner


class SqliteOrderWriter:
    """One thread, one connection: reserves and writes orders, a batch per transaction.

    Orders waiting while the previous batch runs go together: one thread hop and one
    ``BEGIN IMMEDIATE … COMMIT`` for all, each order inside its own ``SAVEPOINT`` so a
    refusal or a repeated key rolls back that order alone. ``lock`` (the context's
    SQLite writers' lock) is held for each batch, not each order.
    """

    def __init__(self, path: str, lock: asyncio.Lock | None = None) -> None:
        self._path = path
        self._lock = lock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lm-orders")
        self._conn: sqlite3.Connection | None = None
        self._batcher: Batcher[_Job, Written | Earlier] = Batcher(
            self._run_batch, max_batch=128, workers=1, name="sqlite-orders"
        )

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "busy_timeout=10000",
                "foreign_keys=ON",
            ):
                conn.execute(f"PRAGMA {pragma}")
            self._conn = conn
        return self._conn

    def _orders(self, jobs: Sequence[_Job]) -> list[Written | Earlier | BaseException]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = [self._order(conn, job) for job in jobs]
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return out

    def _order(self, conn: sqlite3.Connection, job: _Job) -> Written | Earlier | BaseException:
        conn.execute("SAVEPOINT one_order")
        try:
            cursor = conn.execute(
                _PRICES.format(marks=", ".join("?" for _ in job.product_ids)),
                tuple(job.product_ids),
            )
            cursor.row_factory = sqlite3.Row
            written = job.plan([_row(raw) for raw in cursor.fetchall()])
            remaining = _take(conn, job.buyer_key, written.holds, stored(job.now))
            values = [
                stored(written.order[c])
                if isinstance(written.order[c], datetime)
                else written.order[c]
                for c in ORDER_COLUMNS
            ]
            order_id = int(_one(conn, _INSERT_ORDER, values))
            conn.executemany(_INSERT_LINE, [(order_id, *line) for line in written.lines])
        except Exception as exc:
            conn.execute("ROLLBACK TO one_order")
            conn.execute("RELEASE one_order")
            # Sees this batch's earlier orders too: a twin in the same batch is found.
            earlier = _one(conn, _EXISTING, (job.key,))
            if earlier is not None:
                return Earlier(int(earlier))
            if isinstance(exc, sqlite3.IntegrityError):
                return IntegrityError(_INSERT_ORDER, None, exc)
            return exc
        conn.execute("RELEASE one_order")
        return Written(remaining, order_id)

    async def _run_batch(self, jobs: Sequence[_Job]) -> list[Written | Earlier | BaseException]:
        loop = asyncio.get_running_loop()
        async with self._lock if self._lock is not None else contextlib.nullcontext():
            return await loop.run_in_executor(self._executor, self._orders, jobs)

    async def order(
        self, product_ids: Sequence[int], key: str, buyer_key: str, now: datetime, plan: Planner
    ) -> Written | Earlier:
        """Read prices, plan, take the stock and insert the order (batched with others).

        A refusal or a repeated key rolls this order back; when ``key`` already has an
        order that order is returned (``Earlier``) instead of the refusal.
        """
        return await self._batcher(_Job(product_ids, key, buyer_key, now, plan))

    async def close(self) -> None:
        await self._batcher.close()

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=False)
