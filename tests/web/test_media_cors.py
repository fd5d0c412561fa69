"""CORS on WHIP/WHEP: preflights, answers readable cross-origin, and the 307 between instances."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, unused_port
from yarl import URL

from livemarket.accounts.service import create_user
from livemarket.config import Settings
from livemarket.web.cors import CorsPolicy, origin_of
from livemarket.web.typedefs import RELAYS_KEY, SESSIONS_KEY
from tests.conftest import PASSWORD, Instance, StartInstance
from tests.streamer.peers import start_publisher, start_viewer
from tests.streamer.test_media_http import OFFER, SDP, _key, _special, _whip

Client = TestClient[Any, Any]
PAGE = "https://shop.example"
FOREIGN = "https://evil.example"


def test_origins_are_normalised() -> None:
    """Scheme and host compare case-free, default ports drop, paths go; junk is no origin."""
    assert origin_of("https://Shop.Example:443/i1/") == "https://shop.example"
    assert origin_of("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert origin_of("http://[::1]:80/x") == "http://[::1]"
    assert origin_of("null") == origin_of("ftp://x") == origin_of("http://:bad") == ""


def test_policy_allows_configured_public_and_instance_origins() -> None:
    """Allowed: ``allowed_origins``, the public URL's and the instance URL's origins."""
    settings = Settings(
        allowed_origins=("https://a.example", "null"),
        public_url="https://shop.example/live",
        instance_url="https://i1.shop.example",
    )
    policy = CorsPolicy.from_settings(settings)
    assert policy.origins == {
        "https://a.example",
        "https://shop.example",
        "https://i1.shop.example",
    }
    assert policy.headers("https://SHOP.example", preflight=False) == {
        "Access-Control-Allow-Origin": "https://SHOP.example",
        "Access-Control-Expose-Headers": "Location, Link, ETag, Retry-After",
    }
    for stranger in (None, "null", FOREIGN, "https://shop.example.evil.example"):
        assert policy.headers(stranger, preflight=True) == {}
    assert CorsPolicy.from_settings(Settings()).origins == frozenset()


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    return make_settings(database_url=sqlite_url, allowed_origins=(PAGE,))


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type,authorization",
    }


@pytest.mark.parametrize("path", ["/whep/1", "/whip/1"])
async def test_preflight_from_an_allowed_origin_gets_the_headers(client: Client, path: str) -> None:
    """The page's origin may POST an SDP offer (with a bearer key) and read the answer."""
    response = await client.options(path, headers=_preflight(PAGE))
    assert response.status == 200
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == PAGE
    assert headers["Access-Control-Allow-Methods"] == "POST, DELETE, OPTIONS"  # no PATCH: 501
    assert headers["Access-Control-Allow-Headers"] == "Content-Type, Authorization, If-Match"
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in headers
    assert "Origin" in headers["Vary"]
    assert headers["Accept-Post"] == "application/sdp"


@pytest.mark.parametrize("origin", [FOREIGN, "null"])
async def test_preflight_from_a_foreign_origin_gets_no_cors_headers(
    client: Client, origin: str
) -> None:
    """Another site's page (or a sandboxed one) is not told it may call WHEP."""
    for path in ("/whep/1", "/whip/1", "/whep/1/some-session"):
        response = await client.options(path, headers=_preflight(origin, "DELETE"))
        assert not [name for name in response.headers if name.startswith("Access-Control-")]
        # the answer still varies with the origin, so no cache hands it to the page's origin
        assert "Origin" in response.headers["Vary"]


async def test_options_on_the_whip_endpoint_says_what_it_takes(client: Client) -> None:
    """RFC 9725: OPTIONS on the endpoint (no CORS) answers 200 with Accept-Post."""
    response = await client.options("/whip/1")
    assert response.status == 200
    assert response.headers["Accept-Post"] == "application/sdp"
    assert response.headers["Allow"] == "POST, OPTIONS"
    assert "Access-Control-Allow-Origin" not in response.headers
    session = await client.options("/whep/1/some-session", headers=_preflight(PAGE, "DELETE"))
    assert session.status == 204
    assert session.headers["Access-Control-Allow-Origin"] == PAGE
    assert "DELETE" in session.headers["Access-Control-Allow-Methods"]


async def test_errors_are_readable_cross_origin(client: Client) -> None:
    """A refusal carries the CORS headers too, so the page can read why (and Retry-After)."""
    missing_key = await client.post("/whip/1", data=OFFER, headers={**SDP, "Origin": PAGE})
    assert missing_key.status == 401
    assert missing_key.headers["Access-Control-Allow-Origin"] == PAGE
    assert "Retry-After" in missing_key.headers["Access-Control-Expose-Headers"]
    foreign = await client.post("/whep/1", data="x", headers={"Origin": FOREIGN})
    assert foreign.status == 415
    assert "Access-Control-Allow-Origin" not in foreign.headers
    # pages elsewhere on the site are untouched
    page = await client.get("/", headers={"Origin": PAGE})
    assert "Access-Control-Allow-Origin" not in page.headers


# --- two instances: the 307 to the owner, as a browser's fetch follows it ------------------


def _browser_whep(page: Instance, special_id: int, calls: list[str]):  # type: ignore[no-untyped-def]
    """WHEP as Chromium's fetch does it from a page on ``page``'s origin.

    POST on the page's own origin; on a 307 to another origin, a CORS preflight
    there, then the POST again with the same body; the answer is usable only if it
    allows the page's origin, and its Location is read through Expose-Headers and
    resolved against the final URL.
    """
    session = page.client.session

    async def signal(offer: str) -> str:
        url = URL(f"{page.url}/whep/{special_id}")
        origin = page.url
        for _ in range(3):  # bounded, as fetch bounds redirects
            headers = {**SDP, "Origin": origin}
            if origin_of(str(url)) != origin:
                preflight = await session.options(url, headers=_preflight(origin))
                calls.append(f"OPTIONS {url} {preflight.status}")
                assert preflight.ok
                assert preflight.headers["Access-Control-Allow-Origin"] == origin
                assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()
            response = await session.post(url, data=offer, headers=headers, allow_redirects=False)
            calls.append(f"POST {url} {response.status}")
            if response.status == 307:
                url = url.join(URL(response.headers["Location"]))
                continue
            assert response.status == 201, await response.text()
            if origin_of(str(url)) != origin:
                assert response.headers["Access-Control-Allow-Origin"] == origin
                exposed = response.headers["Access-Control-Expose-Headers"]
                assert "Location" in [name.strip() for name in exposed.split(",")]
            signal.location = str(url.join(URL(response.headers["Location"])))  # type: ignore[attr-defined]
            return await response.text()
        raise AssertionError("too many redirects")

    return signal


async def test_whep_307_to_another_origin_plays_and_deletes_there(
    start_instance: StartInstance,
) -> None:
    """Page on B, stream on A: preflight at A, POST at A, play, DELETE the session at A."""
    port_a, port_b = unused_port(), unused_port()
    # A serves pages for B's origin too (LIVEMARKET_ALLOWED_ORIGINS on every instance).
    a = await start_instance(port_a, allowed_origins=(f"http://127.0.0.1:{port_b}",))
    b = await start_instance(port_b, allowed_origins=(f"http://127.0.0.1:{port_a}",))
    host = await create_user(a.app[SESSIONS_KEY], username="host1", password=PASSWORD, role="host")
    special_id = await _special(a.app, host.id)
    publisher = await start_publisher(_whip(a.client, special_id, await _key(a.app, host.id)))
    calls: list[str] = []
    signal = _browser_whep(b, special_id, calls)
    viewer = await start_viewer(signal)
    try:
        await viewer.wait_frames(5)
        assert calls == [
            f"POST {b.url}/whep/{special_id} 307",
            f"OPTIONS {a.url}/whep/{special_id} 200",
            f"POST {a.url}/whep/{special_id} 201",
        ]
        assert a.app[RELAYS_KEY].get(special_id).viewer_count == 1
        location = signal.location  # type: ignore[attr-defined]
        assert location.startswith(f"{a.url}/whep/{special_id}/")
        # the DELETE goes to A, preflighted from B's page
        preflight = await b.client.session.options(location, headers=_preflight(b.url, "DELETE"))
        assert preflight.status == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == b.url
        deleted = await b.client.session.delete(location, headers={"Origin": b.url})
        assert deleted.status == 200
        assert deleted.headers["Access-Control-Allow-Origin"] == b.url
        assert a.app[RELAYS_KEY].get(special_id).viewer_count == 0
    finally:
        await viewer.close()
        await publisher.close()


async def test_redirect_target_refuses_origins_it_does_not_know(
    start_instance: StartInstance,
) -> None:
    """If the owner does not list the page's origin, its preflight says nothing: no playback."""
    port_a, port_b = unused_port(), unused_port()
    a = await start_instance(port_a)
    await start_instance(port_b)
    preflight = await a.client.session.options(
        f"{a.url}/whep/1", headers=_preflight(f"http://127.0.0.1:{port_b}")
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
