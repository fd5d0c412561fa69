"""Fixtures for fault drills: a Redis and a PostgreSQL of the test's own, and app processes.

``fault_redis`` is a fresh ``redis-server`` per test. ``fault_postgres`` is one
``initdb`` cluster for the session (started again if a test left it stopped);
``fault_database`` is a migrated database of the test's own on it. ``fault_apps``
starts real ``python -m livemarket serve`` processes against both. Each skips
with its reason when ``redis-server`` or ``initdb`` is missing (CI has both).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.harness import (
    AppProcess,
    PostgresCluster,
    RedisServer,
    postgres_missing,
    redis_missing,
    start_apps,
)


@pytest.fixture
def fault_redis() -> Iterator[RedisServer]:
    reason = redis_missing()
    if reason:
        pytest.skip(f"fault drills need a throwaway Redis: {reason}")
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def _fault_cluster() -> Iterator[PostgresCluster]:
    reason = postgres_missing()
    if reason:
        pytest.skip(f"fault drills need a throwaway PostgreSQL: {reason}")
    cluster = PostgresCluster()
    cluster.init()
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture
def fault_postgres(_fault_cluster: PostgresCluster) -> PostgresCluster:
    """The session's cluster, running (a test that stopped it may have failed mid-way)."""
    if not _fault_cluster.running:
        _fault_cluster.start()
    return _fault_cluster


@pytest.fixture
def fault_database(fault_postgres: PostgresCluster) -> str:
    """A migrated database of this test's own on the throwaway cluster."""
    return asyncio.run(fault_postgres.create_database(f"drill_{uuid.uuid4().hex[:10]}"))


StartApps = Callable[..., Awaitable[list[AppProcess]]]


@pytest.fixture
async def fault_apps(
    fault_database: str, fault_redis: RedisServer, tmp_path: Path
) -> AsyncIterator[StartApps]:
    """``await fault_apps(3, **env)``: instances on the test's database and Redis."""
    started: list[AppProcess] = []
    shared = {
        "LIVEMARKET_DATABASE_URL": fault_database,
        "LIVEMARKET_REDIS_URL": fault_redis.url,
        "LIVEMARKET_REDIS_PREFIX": "drill:",
        "LIVEMARKET_SECRET_KEY": secrets.token_urlsafe(32),
        "LIVEMARKET_LOG_LEVEL": "WARNING",
        "LIVEMARKET_RECORDINGS": "false",
    }

    async def start(count: int, **env: str) -> list[AppProcess]:
        apps = await start_apps(count, {**shared, **env}, tmp_path)
        started.extend(apps)
        return apps

    yield start
    for app in started:
        app.stop()
