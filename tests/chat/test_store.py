"""Chat persistence on each database: batched writes in order, and the room state read back."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.chat import store
from livemarket.chat.ids import MessageIds
from livemarket.storage.base import utcnow
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
