"""Idempotency keys: batched "has this key an order?" lookups and a gate for twins.

A refused order must still answer a retried key with its order, so every
refusal looks its key up; under a sell-out that is thousands of lookups a
second, so they are batched (one ``IN`` query for all refusals waiting).

Two requests with the same key at once (a double click, a client retry while
the first is still in flight) must both get the same order. :meth:`KeyIndex.hold`
makes the second wait until the first has finished in this process; it then
finds the order written by the first (a refusal would otherwise answer it if the
last unit went to its twin). Twins arriving at two different instances at the
same moment are not covered by the gate: there the unique key still prevents a
second order, but the twin that lost may be answered ``sold_out``.

In the embedded mode this process is the only writer of orders, so the index
also keeps every stored key in memory (``sole_writer``: read once from the
table on first use, then added to as orders are written). A refused key that is
not among them has no order: the answer costs no query, and a sell-out crowd's
refusals no thread hop to SQLite (the keys of a season's orders are a few MB).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from livemarket.checkout.batcher import Batcher
from livemarket.checkout.tables import orders

_FIND = select(orders.c.id, orders.c.idempotency_key).where(
    orders.c.idempotency_key.in_(bindparam("keys", expanding=True))
)
# PostgreSQL: one array parameter, so every batch size reuses one prepared statement.
FIND_KEYS_PG = text(
    "SELECT id, idempotency_key FROM orders WHERE idempotency_key = ANY(CAST(:keys AS text[]))"
)


class KeyIndex:
    """Looks keys up in batches; keeps one request per key in flight."""

    def __init__(
        self, engine: AsyncEngine, *, max_batch: int = 500, sole_writer: bool = False
    ) -> None:
        self._engine = engine
        self._busy: dict[str, asyncio.Event | None] = {}
        self._lookups: Batcher[str, int | None] = Batcher(
            self._find_many, max_batch=max_batch, workers=2, name="order-keys"
        )
        #: Every stored key, when this process writes all orders (else ``None``).
        self._stored: set[str] | None = set() if sole_writer else None
        self._loading: asyncio.Task[None] | None = None
        self._read_done = False

    async def find(self, key: str) -> int | None:
        """The order id already stored under ``key``, if any."""
        if self._stored is not None and key not in self._stored:
            if not self._read_done:  # after the first read, a miss costs no await
                await self._load_stored()
            if key not in self._stored:
                return None
        return await self._lookups(key)

    def stored(self, key: str) -> None:
        """An order was just written under ``key`` (by this process)."""
        if self._stored is not None:
            self._stored.add(key)

    async def _load_stored(self) -> None:
        """Read the table's keys once (concurrent callers share the read; a failure is
        retried by the next caller). Keys written meanwhile are kept: the read adds."""
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._read_stored())
        try:
            await asyncio.shield(self._loading)
        except Exception:
            self._loading = None
            raise

    async def _read_stored(self) -> None:
        async with self._engine.connect() as conn:
            keys = (await conn.execute(select(orders.c.idempotency_key))).scalars().all()
        assert self._stored is not None
        self._stored.update(keys)
        self._read_done = True

    async def _find_many(self, keys: Sequence[str]) -> list[int | None | BaseException]:
        async with self._engine.connect() as conn:
            find = FIND_KEYS_PG if conn.dialect.name == "postgresql" else _FIND
            rows = (await conn.execute(find, {"keys": sorted(set(keys))})).all()
        found = {row.idempotency_key: int(row.id) for row in rows}
        return [found.get(key) for key in keys]

    def hold(self, key: str) -> _KeyTurn:
        """Run the body alone for ``key`` in this process (a twin waits its turn)."""
        return _KeyTurn(self._busy, key)

    async def close(self) -> None:
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        await self._lookups.close()


class _KeyTurn:
    """One request's turn for its key, as ``async with``.

    A plain class, not ``contextlib.asynccontextmanager``: every sold-out refusal
    leaves through it with an exception, and a generator-based manager's ``athrow``
    cost about 5 % of a refusal's server time.
    """

    __slots__ = ("_busy", "_key")

    def __init__(self, busy: dict[str, asyncio.Event | None], key: str) -> None:
        self._busy = busy
        self._key = key

    async def __aenter__(self) -> None:
        busy, key = self._busy, self._key
        for _turn in range(1_000):  # bounded: each turn waits for one holder to finish
            if key not in busy:
                break
            # The usual case has no twin: the holder's event is made only when one waits.
            event = busy[key]
            if event is None:
                event = busy[key] = asyncio.Event()
            await event.wait()
        busy[key] = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        waiting = self._busy.pop(self._key, None)
        if waiting is not None:
            waiting.set()
