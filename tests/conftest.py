"""Shared fixtures: settings, migrated databases (SQLite and PostgreSQL), Redis, apps, logins.

Backend-dependent tests take ``database_url`` (parametrized over SQLite and
PostgreSQL) or ``redis_url``. PostgreSQL, Redis and browser tests skip with a
reason unless LIVEMARKET_TEST_POSTGRES_URL, LIVEMARKET_TEST_REDIS_URL and
LIVEMARKET_TEST_BROWSER are set; CI sets all three, so there they always run.
Each test gets a database of its own, copied from one migrated template.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, unused_port
from argon2 import PasswordHasher
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.accounts import passwords
from livemarket.accounts.service import create_user
from livemarket.bus import catalogue
from livemarket.bus.events import Event
from livemarket.bus.memory import InProcessBus
from livemarket.bus.redis import RedisBus
from livemarket.config import Settings, load_settings
from livemarket.storage.engine import create_engine, session_factory
from livemarket.storage.migrate import upgrade
from livemarket.web.app import create_app
from livemarket.web.typedefs import SESSIONS_KEY

POSTGRES_ENV = "LIVEMARKET_TEST_POSTGRES_URL"
REDIS_ENV = "LIVEMARKET_TEST_REDIS_URL"
BROWSER_ENV = "LIVEMARKET_TEST_BROWSER"

PASSWORD = "correct horse battery"
LOOPBACK_ONLY = ("127.0.0.1",)


# --- databases -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "livemarket.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def _postgres_base() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (CI sets it)")
    return url


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _admin(url: str, *statements: str) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated to head, used as CREATE DATABASE … TEMPLATE."""
    base = _postgres_base()
    name = f"lm_tpl_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    upgrade(_with_database(base, name))
    yield name
    asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh migrated PostgreSQL database for this test alone, dropped afterwards."""
    base = _postgres_base()
    name = f"lm_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield _with_database(base, name)
    asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each backend in turn."""
    return str(request.getfixturevalue(f"{request.param}_url"))


Sessions = async_sessionmaker[AsyncSession]


@contextlib.asynccontextmanager
async def open_sessions(url: str) -> AsyncIterator[Sessions]:
    """A session factory on ``url``, its engine disposed afterwards."""
    engine = create_engine(url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    """Database sessions on each backend in turn (no app involved)."""
    async with open_sessions(database_url) as made:
        yield made


# --- redis -----------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"Redis tests need {REDIS_ENV} (CI sets it)")
    return url


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test's own, so tests sharing one Redis never see each other."""
    return f"lmtest:{uuid.uuid4().hex[:10]}:"


async def forget_redis_keys(redis_url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (a test's own keys, after it)."""
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


# --- settings and apps -----------------------------------------------------------------


def build_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings as every test builds them: a data folder of its own, WebRTC media on
    127.0.0.1 (no test offers another interface's address), then ``overrides``."""
    overrides.setdefault("ice_host_addresses", LOOPBACK_ONLY)
    return load_settings({}, data_dir=data_dir, **overrides)


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Embedded-mode settings on a migrated SQLite file in a temporary data folder."""
    return build_settings(tmp_path, database_url=sqlite_url)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings with overrides, e.g. ``make_settings(database_url=…, redis_url=…)``."""

    def build(**overrides: Any) -> Settings:
        return build_settings(tmp_path, **overrides)

    return build


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    app: web.Application,
) -> TestClient[Any, Any]:
    return await aiohttp_client(app)


# --- several instances (scale-out) ----------------------------------------------------


@dataclass
class Instance:
    """One app serving on 127.0.0.1: its own port, so its own origin."""

    url: str
    app: web.Application
    client: TestClient[Any, Any]


StartInstance = Callable[..., Awaitable[Instance]]


@pytest.fixture
def start_instance(
    make_settings: Callable[..., Settings],
    sqlite_url: str,
    redis_url: str,
    redis_prefix: str,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    aiohttp_client: Callable[[TestServer], Awaitable[TestClient[Any, Any]]],
) -> StartInstance:
    """``await start_instance(port=None, **settings)``: an instance sharing database and Redis.

    Its ``instance_url`` is its own address; a port is picked unless given.
    """

    async def run(port: int | None = None, **overrides: Any) -> Instance:
        port = port or unused_port()
        url = f"http://127.0.0.1:{port}"
        settings = make_settings(
            database_url=sqlite_url,
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            instance_url=url,
            **overrides,
        )
        app = create_app(settings)
        server = await aiohttp_server(app, port=port)
        return Instance(url, app, await aiohttp_client(server))

    return run


# --- accounts --------------------------------------------------------------------------


#: Argon2id at its cheapest: the same code path as production, a thousandth of the cost.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test hashes passwords cheaply (production's 0.2 s per hash adds up)."""
    monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", CHEAP_HASHER.hash("livemarket-no-such-user"))


# --- events ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def catalogued_events(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every event any test publishes is in the catalogue, with its payload's shape (#14).

    Checked in both buses' ``publish`` and reported when the test ends, since some
    publishers turn any exception into a log line or a ``chat_unavailable``. Tests of
    the bus's own mechanics publish toy events; they say so with ``toy_events``.
    """
    if request.node.get_closest_marker("toy_events"):
        yield
        return
    problems: list[str] = []
    for bus in (InProcessBus, RedisBus):
        original = bus.publish

        async def publish(self: Any, topic: str, event: Event, _original: Any = original) -> None:
            try:
                catalogue.validate(event)
            except ValueError as exc:
                problems.append(f"{topic}: {exc}")
                raise
            await _original(self, topic, event)

        monkeypatch.setattr(bus, "publish", publish)
    yield
    assert not problems, "events outside the catalogue were published"


UserMaker = Callable[..., Awaitable[Any]]


@pytest.fixture
def make_user(app: web.Application) -> UserMaker:
    """``await make_user("host", "alice")`` creates an account in the app's database.

    Call it after the client started (the app's database is opened at start-up).
    """

    async def make(role: str, username: str, **kw: Any) -> Any:
        return await create_user(
            app[SESSIONS_KEY], username=username, password=PASSWORD, role=role, **kw
        )

    return make


async def login(client: TestClient[Any, Any], username: str, password: str = PASSWORD) -> str:
    """Log ``username`` in on ``client`` (its cookie jar keeps it); returns the CSRF token."""
    response = await client.post(
        "/api/v1/session", json={"username": username, "password": password}
    )
    assert response.status == 200, await response.text()
    return str((await response.json())["csrf_token"])


@pytest.fixture
async def operator_client(
    client: TestClient[Any, Any], make_user: UserMaker
) -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    """The client logged in as an operator, and its CSRF token."""
    await make_user("operator", "op")
    yield client, await login(client, "op")
