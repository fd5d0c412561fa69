"""Group commit of orders on PostgreSQL: many orders, one statement, one commit.

With the Redis ledger the stock is already taken in Redis when the order is
written; the same statement moves the database's counters (``products.stock``,
``flash_deals.sold``), whose CHECK constraints refuse what the database does not
have, so Redis can never sell more than the database recorded. Written one order
at a time, each autocommitted statement waits for its own WAL flush and the
server mostly waits. Here
concurrent orders queue in a :class:`~livemarket.checkout.batcher.Batcher` and
each batch is a single statement (orders and lines as one data-modifying CTE
over arrays), so a whole batch shares one round trip and one flush.

Per order the outcome is its own: a new id, :class:`Earlier` when the
idempotency key already has an order (``ON CONFLICT DO NOTHING``, and a
duplicate inside the batch is answered with its twin's order, never inserted),
or the exception of that order alone: when the batch statement fails (say one
order names a special that does not exist) every order of the batch is retried
alone, so one bad order never fails its neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.checkout.batcher import Batcher
from livemarket.checkout.keys import FIND_KEYS_PG
from livemarket.checkout.sqlite_writer import ORDER_COLUMNS, Earlier

#: ``(product_id, quantity, unit_price, list_price, deal_id)`` per line.
LineRow = tuple[int, int, int, int, int | None]

_ORDER_TYPES = {
    "idempotency_key": "text",
    "buyer_key": "text",
    "special_id": "integer",
    "status": "text",
    "buyer_name": "text",
    "buyer_phone": "text",
    "buyer_address": "text",
    "total": "integer",
    "payment_method": "text",
    "hold_expires_at": "timestamptz",
    "created_at": "timestamptz",
}
_LINE_COLUMNS = ("product_id", "quantity", "unit_price", "list_price", "deal_id")

_COLUMNS = ", ".join(ORDER_COLUMNS)
_ORDER_ARRAYS = ", ".join(f"CAST(:o_{c} AS {_ORDER_TYPES[c]}[])" for c in ORDER_COLUMNS)
_LINE_ARRAYS = ", ".join(f"CAST(:l_{c} AS integer[])" for c in _LINE_COLUMNS)
# The main SELECT's snapshot predates the CTE's inserts: the first part lists the new
# orders, the second the keys that already had one (before this statement began).
_BATCH_INSERT = text(
    f"WITH input AS (SELECT * FROM unnest({_ORDER_ARRAYS}) AS t({_COLUMNS})), "
    f"ins AS (INSERT INTO orders ({_COLUMNS}) SELECT {_COLUMNS} FROM input "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key), "
    "new_lines AS (INSERT INTO order_lines (order_id, "
    + ", ".join(_LINE_COLUMNS)
    + ") SELECT ins.id, "
    + ", ".join(f"l.{c}" for c in _LINE_COLUMNS)
    + f" FROM ins JOIN unnest(CAST(:l_key AS text[]), {_LINE_ARRAYS}) "
    "AS l(idempotency_key, " + ", ".join(_LINE_COLUMNS) + ") "
    "ON l.idempotency_key = ins.idempotency_key "
    "RETURNING product_id, quantity, deal_id), "
    # The database's counters move with the orders they count (the durable truth a lost
    # Redis is rebuilt from); their CHECKs (stock >= 0, sold <= quantity) refuse a unit
    # the database does not have, whatever Redis said.
    "took_stock AS (UPDATE products AS p SET stock = p.stock - t.units FROM "
    "(SELECT product_id, sum(quantity) AS units FROM new_lines GROUP BY product_id) AS t "
    "WHERE p.id = t.product_id RETURNING p.id), "
    "took_deal AS (UPDATE flash_deals AS d SET sold = d.sold + t.units FROM "
    "(SELECT deal_id, sum(quantity) AS units FROM new_lines WHERE deal_id IS NOT NULL "
    "GROUP BY deal_id) AS t WHERE d.id = t.deal_id RETURNING d.id) "
    "SELECT id, idempotency_key, true AS created FROM ins "
    "UNION ALL SELECT id, idempotency_key, false FROM orders "
    "WHERE idempotency_key = ANY(CAST(:o_idempotency_key AS text[]))"
)


@dataclass(frozen=True)
class OrderWrite:
    """One order to insert: the ``orders`` row (``ORDER_COLUMNS``) and its lines."""

    order: dict[str, Any]
    lines: Sequence[LineRow]


Outcome = int | Earlier


def _parameters(writes: Sequence[OrderWrite]) -> dict[str, list[Any]]:
    params: dict[str, list[Any]] = {f"o_{c}": [] for c in ORDER_COLUMNS}
    params.update({f"l_{c}": [] for c in ("key", *_LINE_COLUMNS)})
    for write in writes:
        for column in ORDER_COLUMNS:
            params[f"o_{column}"].append(write.order[column])
        for line in write.lines:
            params["l_key"].append(write.order["idempotency_key"])
            for column, value in zip(_LINE_COLUMNS, line, strict=True):
                params[f"l_{column}"].append(value)
    return params


class PgOrderWriter:
    """Writes orders in batches; :meth:`write` answers one order's outcome."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 200, workers: int = 2) -> None:
        self._engine = engine
        self._batcher: Batcher[OrderWrite, Outcome] = Batcher(
            self._write_batch, max_batch=max_batch, workers=workers, name="pg-orders"
        )

    def submit(self, write: OrderWrite) -> Any:
        """Queue one order; the returned future gets its id, ``Earlier`` or its error."""
        return self._batcher.submit(write)

    async def write(self, write: OrderWrite) -> Outcome:
        return await self._batcher(write)

    async def _write_batch(self, writes: Sequence[OrderWrite]) -> list[Outcome | BaseException]:
        # Twins (the same key twice in one batch) are written once; all get that order.
        first: dict[str, OrderWrite] = {}
        for write in writes:
            first.setdefault(write.order["idempotency_key"], write)
        unique = list(first.values())
        try:
            by_key = await self._insert(unique)
        except DBAPIError:
            if len(unique) == 1:
                raise
            by_key = {}
            for write in unique:  # find the culprit: each order alone gets its own answer
                key = write.order["idempotency_key"]
                try:
                    by_key.update(await self._insert([write]))
                except DBAPIError as exc:
                    by_key[key] = exc
        answers: list[Outcome | BaseException] = []
        for write in writes:
            answer = by_key[write.order["idempotency_key"]]
            if write is not first[write.order["idempotency_key"]] and isinstance(answer, int):
                answer = Earlier(answer)  # the twin's order, not a second one
            answers.append(answer)
        return answers

    async def _insert(self, writes: Sequence[OrderWrite]) -> dict[str, Outcome | BaseException]:
        async with self._engine.connect() as conn:
            # One statement, atomic alone: no BEGIN/COMMIT round trips.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            rows = (await conn.execute(_BATCH_INSERT, _parameters(writes))).all()
            found: dict[str, Outcome | BaseException] = {
                row.idempotency_key: int(row.id) if row.created else Earlier(int(row.id))
                for row in rows
            }
            # Committed by someone else after this statement's snapshot: look again.
            missing = [
                w.order["idempotency_key"]
                for w in writes
                if w.order["idempotency_key"] not in found
            ]
            if missing:
                for row in (await conn.execute(FIND_KEYS_PG, {"keys": missing})).all():
                    found[row.idempotency_key] = Earlier(int(row.id))
        for key in missing:
            if key not in found:
                found[key] = RuntimeError(f"order {key} was neither written nor found")
        return found

    async def close(self) -> None:
        await self._batcher.close()
