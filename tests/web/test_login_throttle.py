"""The login budget under attack: parallel guesses, a guesser's own account, two instances,
and Argon2 kept off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from livemarket.accounts import passwords
from tests.conftest import PASSWORD, StartInstance, UserMaker

Client = TestClient[Any, Any]


async def _try(client: Client, username: str, password: str = "wrong password") -> int:
    # A logged-in cookie needs its CSRF token for the next login; the session tells it.
    token = (await (await client.get("/api/v1/session")).json())["csrf_token"]
    response = await client.post(
        "/api/v1/session",
        json={"username": username, "password": password},
        headers={"X-CSRF-Token": token},
    )
    body = await response.json()
    if response.status == 429:
        assert body["error"]["code"] == "too_many_attempts"
        assert int(response.headers["Retry-After"]) >= 1
    return response.status


async def test_parallel_guesses_get_five_checks_then_429(
    client: Client, make_user: UserMaker
) -> None:
    """60 concurrent wrong passwords for one account: 5 are checked (401), 55 get 429."""
    await make_user("operator", "olivia")
    statuses = Counter(await asyncio.gather(*(_try(client, "olivia") for _ in range(60))))
    assert statuses == {401: 5, 429: 55}
    assert await _try(client, "olivia", PASSWORD) == 429  # even the right one waits now


async def test_success_on_own_account_keeps_the_address_budget(
    client: Client, make_user: UserMaker
) -> None:
    """Guesses on several accounts, interleaved with logins to one's own, stop after five."""
    await make_user("host", "mallory")
    for victim in ("alice", "bob", "carol", "dave"):
        await make_user("host", victim)
    statuses = []
    for victim in ("alice", "bob", "carol", "dave", "alice", "bob"):
        statuses.append(await _try(client, victim))
        assert await _try(client, "mallory", PASSWORD) in (200, 429)
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429


async def test_hashing_does_not_stall_the_loop(client: Client, make_user: UserMaker) -> None:
    """Production-cost Argon2 runs in threads: the loop keeps ticking during four logins."""
    await make_user("operator", "olivia")
    real = PasswordHasher()
    passwords._hasher = real  # the autouse fixture restores the cheap one afterwards
    one_hash = time.perf_counter()
    passwords._DUMMY_HASH = real.hash("livemarket-no-such-user")
    one_hash = time.perf_counter() - one_hash  # what one check would stall the loop for
    stalled = 0.0  # time lost in ticks over 50 ms: all of it if hashing ran on the loop
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal stalled
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            gap = time.perf_counter() - before
            stalled += gap if gap > 0.05 else 0.0

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    statuses = await asyncio.gather(*(_try(client, name) for name in ("a", "b", "c", "olivia")))
    took = time.perf_counter() - started
    stop.set()
    await tick
    assert statuses == [401, 401, 401, 401]
    assert took > 2 * one_hash, "four production-cost checks ran"
    # On the loop the four checks run one after another and stall it for all of ``took``.
    assert stalled < took / 2, f"the loop stalled {stalled:.3f} s of {took:.3f} s"


@pytest.mark.redis
async def test_instances_share_one_budget(
    start_instance: StartInstance, make_user: UserMaker
) -> None:
    """In scale-out, guesses spread over two instances (in parallel) share the five checks."""
    one = await start_instance()
    two = await start_instance()
    from livemarket.accounts.service import create_user
    from livemarket.web.typedefs import SESSIONS_KEY

    await create_user(one.app[SESSIONS_KEY], username="olivia", password=PASSWORD, role="operator")
    tries = [_try(inst.client, "olivia") for inst in (one, two) for _ in range(20)]
    statuses = Counter(await asyncio.gather(*tries))
    assert statuses == {401: 5, 429: 35}
    assert await _try(two.client, "olivia", PASSWORD) == 429
