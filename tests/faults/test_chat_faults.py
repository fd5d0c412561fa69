"""Chat and presence through real outages: PostgreSQL stopped, Redis restarted, an
instance killed (issue 12, items 4, 5, 6 and 9)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

from tests.faults.chat_drill import (
    Recorder,
    eventually,
    health,
    metrics,
    stored_messages,
)
from tests.faults.conftest import StartApps
from tests.faults.drill import seed
from tests.faults.harness import PostgresCluster, RedisServer


async def test_the_chat_writer_keeps_every_message_through_a_postgres_outage(
    fault_apps: StartApps, fault_database: str, fault_postgres: PostgresCluster
) -> None:
    """Messages sent while PostgreSQL is down are delivered live, held, written once it is
    back; /healthz and /metrics show the writer failing meanwhile; shutdown is clean."""
    special_id, _ = await seed(fault_database, stock=1)
    [app] = await fault_apps(1)
    host = await Recorder.open(app.url, special_id, login="drillhost")
    try:
        sent = [f"before {i}" for i in range(3)]
        for text in sent:
            await host.chat(text)
        await host.wait_for(lambda e: e.get("text") == sent[-1])
        await asyncio.to_thread(fault_postgres.stop)
        try:
            for i in range(8):
                text = f"during {i}"
                sent.append(text)
                await host.chat(text)
                await host.wait_for(lambda e, text=text: e.get("text") == text)

            async def writer_failing() -> bool:
                status, body = await health(app.url)
                writer = body["tasks"]["chat-writer"]
                return status == 503 and writer["state"] == "failing" and writer["backlog"] >= 8

            await eventually(writer_failing, 15, "/healthz showing the chat writer failing")
            assert 'livemarket_task_up{task="chat-writer"} 0.0' in await metrics(app.url)
            await asyncio.sleep(2)  # several failed attempts: it must keep trying
        finally:
            await asyncio.to_thread(fault_postgres.start)

        async def all_stored() -> bool:
            return {text for _, text in await stored_messages(fault_database, special_id)} == set(
                sent
            )

        await eventually(all_stored, 20, "every message in the database")
        status, body = await health(app.url)
        assert status == 200, body
        assert body["tasks"]["chat-writer"]["state"] == "running"
        assert body["tasks"]["chat-writer"]["backlog"] == 0
        assert body["tasks"]["chat-writer"]["failures_total"] >= 1
    finally:
        await host.close()
    app.stop()
    assert "Task exception was never retrieved" not in app.output(100_000)


async def test_ids_stay_unique_when_an_instance_starts_after_a_redis_restart(
    fault_apps: StartApps, fault_database: str, fault_redis: RedisServer
) -> None:
    """Redis forgetting everything does not make a newly started instance mint ids that a
    running one mints too: every message keeps its own id, live and in history."""
    special_id, _ = await seed(fault_database, stock=1)
    running = await fault_apps(2)
    await asyncio.to_thread(fault_redis.restart, 0.2)
    [late] = await fault_apps(1)  # started after Redis forgot everything

    per_socket = 200
    senders = [
        await Recorder.open(app.url, special_id, login=user)
        for app in (*running, late)
        for user in ("drillhost", "drillop")
    ]
    watcher = await Recorder.open(late.url, special_id)
    try:

        async def burst(n: int, sender: Recorder) -> None:
            for i in range(per_socket):
                await sender.chat(f"s{n} m{i}")

        await asyncio.gather(*(burst(n, sender) for n, sender in enumerate(senders)))
        total = per_socket * len(senders)
        with contextlib.suppress(AssertionError):  # the ids say why, if some are missing
            await eventually(lambda: len(watcher.texts()) == total, 30, "every message live")
        ids = Counter(event["id"] for event in watcher.of("chat"))
        shared = {message_id: n for message_id, n in ids.items() if n > 1}
        assert not shared, f"{len(shared)} ids minted twice"
        assert len(watcher.texts()) == total

        async def all_stored() -> bool:
            return len(await stored_messages(fault_database, special_id)) == total

        await eventually(all_stored, 20, f"{total} messages in the database")
    finally:
        for recorder in (*senders, watcher):
            await recorder.close()


async def test_a_message_sent_during_a_redis_blip_is_delivered_and_stored_or_refused(
    fault_apps: StartApps, fault_database: str, fault_redis: RedisServer
) -> None:
    """While Redis is away for a second, each message the host sends ends one way on every
    instance: delivered live everywhere and stored, or refused and kept nowhere."""
    special_id, _ = await seed(fault_database, stock=1)
    first, second = await fault_apps(2)
    host = await Recorder.open(first.url, special_id, login="drillhost")
    viewers = [
        await Recorder.open(first.url, special_id),
        await Recorder.open(second.url, special_id),
    ]

    async def blip() -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(fault_redis.restart, 1.0)

    outage = asyncio.create_task(blip())
    refused: list[str] = []
    delivered: list[str] = []
    try:
        deadline = time.monotonic() + 5.0
        n = 0
        while time.monotonic() < deadline:
            text = f"message {n}"
            n += 1
            start = len(host.events)
            await host.chat(text)
            outcome = await host.wait_for(
                lambda e, text=text: e.get("text") == text or e["type"] == "error",
                within_s=15,
                start=start,
            )
            if outcome["type"] == "error":
                assert outcome["code"] == "chat_unavailable", outcome
                refused.append(text)
            else:
                delivered.append(text)
            await asyncio.sleep(0.1)
        await outage
        last = delivered[-1]
        for viewer in viewers:
            await viewer.wait_for(lambda e: e.get("text") == last)
        await asyncio.sleep(1.0)  # the writer's batch interval, and then some
        stored = {text for _, text in await stored_messages(fault_database, special_id)}
        assert len(delivered) >= 5 and refused, (delivered, refused)  # the outage was felt
        assert stored >= set(delivered), "delivered but not stored"
        assert not stored & set(refused), "refused but stored"
        for viewer in viewers:
            seen = viewer.texts()
            assert seen >= set(delivered), "delivered to the host, not to every viewer"
            assert not seen & set(refused), "refused, yet a viewer saw it"
    finally:
        outage.cancel()
        for recorder in (host, *viewers):
            await recorder.close()


async def test_a_killed_instances_viewers_stop_counting_within_seconds(
    fault_apps: StartApps, fault_database: str
) -> None:
    """After ``kill -9`` of an instance, the others' viewer count drops to their own
    viewers within a few seconds."""
    special_id, _ = await seed(fault_database, stock=1)
    first, second = await fault_apps(2)
    watcher = await Recorder.open(first.url, special_id)
    doomed = [await Recorder.open(second.url, special_id) for _ in range(3)]
    try:
        await watcher.wait_for(lambda e: e["type"] == "viewers" and e["count"] == 4)
        second.kill()
        killed_at = time.monotonic()
        start = len(watcher.events)
        await watcher.wait_for(
            lambda e: e["type"] == "viewers" and e["count"] == 1, within_s=15, start=start
        )
        assert time.monotonic() - killed_at < 6.0
    finally:
        for recorder in (watcher, *doomed):
            await recorder.close()


async def test_likes_clicked_while_redis_is_away_are_counted_when_it_returns(
    fault_apps: StartApps, fault_database: str, fault_redis: RedisServer
) -> None:
    """Likes the server accepted during a Redis outage are not lost with the failed push:
    they are counted once Redis is back."""
    special_id, _ = await seed(fault_database, stock=1)
    [app] = await fault_apps(1)
    viewer = await Recorder.open(app.url, special_id)
    try:
        await asyncio.to_thread(fault_redis.stop)
        try:
            for _ in range(5):
                await viewer.ws.send_json({"type": "like"})
            await asyncio.sleep(1.5)  # several failed pushes
        finally:
            await asyncio.to_thread(fault_redis.start)
        await viewer.wait_for(lambda e: e["type"] == "likes" and e["count"] == 5, within_s=15)
    finally:
        await viewer.close()
