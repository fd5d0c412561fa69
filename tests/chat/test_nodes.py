"""Message-id nodes leased in the database: distinct per live instance, lost leases noticed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.chat.ids import LeasedIds
from livemarket.chat.models import ChatIdNode
from livemarket.chat.nodes import NodeLease, NoFreeNode
from livemarket.errors import DomainError
from livemarket.storage.engine import create_engine, session_factory


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def test_live_instances_hold_distinct_nodes_until_one_is_freed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """64 leases get 64 different nodes; a 65th gets none until one is released."""
    leases = [NodeLease(sessions) for _ in range(64)]
    nodes = [await lease.keep() for lease in leases]
    assert sorted(nodes) == list(range(64))
    late = NodeLease(sessions)
    with pytest.raises(NoFreeNode):
        await late.keep()
    await leases[5].release()
    assert leases[5].current() is None
    assert await late.keep() == nodes[5]
    assert await leases[0].keep() == nodes[0]  # renewing keeps the node


async def test_a_lease_past_its_safety_margin_mints_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Without a renewal the instance stops minting before anyone may take its node over."""
    now = [0.0]
    lease = NodeLease(sessions, lease_s=120, safety_s=30, monotonic=lambda: now[0])
    ids = LeasedIds(lease.current)
    with pytest.raises(DomainError) as refused:
        ids.next()  # nothing leased yet
    assert refused.value.code == "chat_unavailable"
    node = await lease.keep()
    assert (ids.next() >> 8) & 63 == node
    now[0] = 89.0
    assert lease.current() == node
    now[0] = 90.0
    assert lease.current() is None
    with pytest.raises(DomainError):
        ids.next()


async def test_a_node_taken_over_is_given_up_for_another(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    """If another instance took the node over (this one was cut off past its lease), the
    next renewal notices and claims a different node instead of sharing it."""
    lease = NodeLease(sessions)
    node = await lease.keep()
    async with sessions.begin() as db:
        await db.execute(
            update(ChatIdNode).where(ChatIdNode.node == node).values(holder="someone else")
        )
    with caplog.at_level(logging.WARNING, logger="livemarket.chat.nodes"):
        assert await lease.keep() != node
    assert f"chat id node {node} was lost" in caplog.text
