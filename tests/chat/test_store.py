"""Chat persistence on each database: batched writes in order, and the room state read back."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.chat import store
from livemarket.chat.ids import MessageIds
from livemarket.storage.base import utcnow
from livemarket.storage.engine import create_engine, session_factory
from tests.fakes import add_special


def _event(message_id: int, special_id: int, text: str, author: str = "v:a") -> dict[str, object]:
    return {
        "type": "chat",
        "id": message_id,
        "special_id": special_id,
        "nickname": "닉",
        "role": "viewer",
        "text": text,
        "_author": author,
    }


async def test_batched_writes_keep_order_and_room_state_reloads(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Insert, delete and pin queued together land in order; bans and slow mode reload."""
    special_id = await add_special(sessions, status="scheduled")
    ids = MessageIds(node=1)
    writer = store.ChatWriter(sessions, delay_s=0.01)
    made = [ids.next() for _ in range(4)]
    assert made[-1] > 2**40  # ids beyond 32 bits must fit the column
    for i, message_id in enumerate(made):
        writer.add(_event(message_id, special_id, f"m{i}"), utcnow())
    writer.delete(made[1])  # deleted before its insert was even written
    writer.pin(made[2])
    await writer.flush()
    await store.save_ban(sessions, special_id, "v:troll", nickname="troll", banned_by=None)
    await store.save_ban(sessions, special_id, "v:troll", nickname="troll", banned_by=None)
    await store.save_room_settings(sessions, special_id, slow_mode_s=30, pinned_message_id=made[2])
    state = await store.load_room(sessions, special_id, limit=2)
    assert [m["text"] for m in state.recent] == ["m2", "m3"]
    assert state.banned == {"v:troll"}
    assert state.slow_mode_s == 30
    assert state.pinned_message is not None and state.pinned_message["text"] == "m2"
    assert state.pinned_message["pinned"] is True
    found = await store.find_message(sessions, special_id, made[0])
    assert found is not None and found["_author"] == "v:a"
    assert await store.find_message(sessions, special_id + 1, made[0]) is None


async def test_a_refused_row_does_not_lose_the_batch(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A message for a special that no longer exists is dropped; the others are written."""
    special_id = await add_special(sessions, status="scheduled")
    writer = store.ChatWriter(sessions)
    writer.add(_event(1, special_id, "kept"), utcnow())
    writer.add(_event(2, special_id + 999, "orphan"), utcnow())
    writer.add(_event(3, special_id, "kept too"), utcnow())
    await writer.flush()
    state = await store.load_room(sessions, special_id, limit=10)
    assert [m["text"] for m in state.recent] == ["kept", "kept too"]


async def test_long_staff_names_are_stored_shortened(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A display name longer than the column is cut to fit rather than blocking the writer."""
    special_id = await add_special(sessions, status="scheduled")
    writer = store.ChatWriter(sessions)
    event = _event(1, special_id, "hello")
    event["nickname"] = "가" * 80
    writer.add(event, utcnow())
    await writer.flush()
    state = await store.load_room(sessions, special_id, limit=10)
    assert state.recent[0]["nickname"] == "가" * 40


async def test_a_database_away_keeps_the_batch_in_order_until_it_returns(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While the database cannot be opened, a flush raises and keeps every change queued,
    in order; once it is back they are written. Shutdown with it away says what is lost."""
    template = Path(sqlite_url.removeprefix("sqlite+aiosqlite:///"))
    later = tmp_path / "not-yet" / "chat.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{later}")
    try:
        sessions = session_factory(engine)
        writer = store.ChatWriter(sessions)
        for i in range(3):
            writer.add(_event(i + 1, 1, f"m{i}"), utcnow())
        with pytest.raises(Exception, match="unable to open database file"):
            await writer.flush()
        assert writer.health.backlog == 3
        later.parent.mkdir()
        shutil.copyfile(template, later)
        special_id = await add_special(sessions)
        assert special_id == 1
        await writer.flush()
        state = await store.load_room(sessions, special_id, limit=10)
        assert [m["text"] for m in state.recent] == ["m0", "m1", "m2"]

        await engine.dispose()  # no open connection to the removed file
        shutil.rmtree(later.parent)
        writer.add(_event(9, special_id, "at shutdown"), utcnow())
        with caplog.at_level(logging.ERROR, logger="livemarket.chat.store"):
            async with asyncio.timeout(3):
                await writer.close(within_s=0.5)
        assert "chat writer lost 1 changes at shutdown" in caplog.text
    finally:
        await engine.dispose()
