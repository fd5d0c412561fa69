"""The real app on a free loopback port with one live special, for browser benchmarks.

A migrated SQLite file in ``data_dir``, a host and a special live for the next hour;
``bench/first_frame.py`` and ``bench/watch_hls.py`` drive Chromium against it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
PASSWORD = "bench password 1"


@dataclass(frozen=True)
class LiveApp:
    runner: Any  # aiohttp's AppRunner: ``await live.runner.cleanup()`` stops it
    app: Any
    base: str
    special_id: int
    host_id: int
    key: str  # the host's stream key (WHIP Bearer)


async def start_live_app(data_dir: Path, title: str) -> LiveApp:
    from aiohttp import web

    from livemarket.accounts.service import create_user, stream_key_of
    from livemarket.config import load_settings
    from livemarket.scheduler.models import Special
    from livemarket.storage.base import utcnow
    from livemarket.storage.migrate import upgrade
    from livemarket.web.app import create_app
    from livemarket.web.typedefs import SESSIONS_KEY

    database_url = f"sqlite+aiosqlite:///{data_dir / 'bench.sqlite3'}"
    await asyncio.to_thread(upgrade, database_url)
    settings = load_settings(
        {}, data_dir=data_dir, database_url=database_url, ice_host_addresses=(HOST,)
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sessions = app[SESSIONS_KEY]
    host = await create_user(sessions, username="host", password=PASSWORD, role="host")
    now = utcnow()
    async with sessions.begin() as db:
        special = Special(
            title=title,
            starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(hours=1),
            status="live",
            host_id=host.id,
        )
        db.add(special)
        await db.flush()
        special_id = special.id
        key = await stream_key_of(db, host.id)
    return LiveApp(runner, app, f"http://{HOST}:{port}", special_id, host.id, key)
