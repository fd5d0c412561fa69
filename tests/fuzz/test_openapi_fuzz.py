"""Schemathesis against ``/api/v1/openapi.json`` on SQLite and PostgreSQL: generated valid
and invalid requests to every operation, as an operator with a CSRF token, get no 5xx, and
every error is the contract's ``{"error": {"code", "message"}}``.

Bounded: ``EXAMPLES`` cases per operation and generation mode, derandomized (the same
cases every run), so a run takes well under a minute per backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from livemarket.config import Settings
from livemarket.web.app import create_app
from livemarket.web.typedefs import ENGINE_KEY, SESSIONS_KEY
from tests.checkout.checkout_seed import seed_special
from tests.conftest import PASSWORD, login

Client = TestClient[Any, Any]
EXAMPLES = 8
#: Logging out would end the fuzzing session itself (its revocation is tested elsewhere).
SKIPPED = {("DELETE", "/api/v1/session")}


def _check(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/json"), where
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), where


def _fuzz(operation: Any, base_url: str, headers: dict[str, str]) -> None:
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=10)
            _check(case, response)

        try:
            run()
        except Unsatisfiable:
            # No parameters and no body: there is nothing to make invalid.
            assert mode is GenerationMode.NEGATIVE, operation.label


async def test_generated_requests_get_no_5xx_and_contract_errors(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    make_settings: Callable[..., Settings],
    database_url: str,
) -> None:
    """Every documented operation, fuzzed: no server error, every error in the contract's shape."""
    from livemarket.accounts.service import create_user

    app = create_app(make_settings(database_url=database_url))
    client = await aiohttp_client(app)
    await create_user(app[SESSIONS_KEY], username="op", password=PASSWORD, role="operator")
    host = await create_user(app[SESSIONS_KEY], username="host", password=PASSWORD, role="host")
    seed = await seed_special(app[ENGINE_KEY], host.id)
    await seed.product(stock=50)
    csrf = await login(client, "op")
    cookie = next(c for c in client.session.cookie_jar if c.key == "lm_session")
    headers = {"Cookie": f"lm_session={cookie.coded_value}", "X-CSRF-Token": csrf}
    document = await (await client.get("/api/v1/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    base_url = str(client.make_url("")).rstrip("/")
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if (result.ok().method.upper(), result.ok().path) not in SKIPPED
    ]
    assert len(operations) > 20
    for operation in operations:
        # requests is blocking: the cases run in a thread while this loop serves them.
        await asyncio.to_thread(_fuzz, operation, base_url, headers)
