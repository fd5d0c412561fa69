"""The client address per-address limits use: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from livemarket.web.client_address import client_address


def _request(remote: str, forwarded: str | None = None) -> web.Request:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return make_mocked_request("GET", "/", headers=headers, transport=_Transport(remote))


class _Transport:
    def __init__(self, remote: str) -> None:
        self.remote = remote

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self.remote, 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False


def test_an_untrusted_peer_is_itself_whatever_it_claims() -> None:
    """A client writing X-Forwarded-For cannot pick the address it is counted as."""
    request = _request("198.51.100.7", "203.0.113.1")
    assert client_address(request, ()) == "198.51.100.7"
    assert client_address(request, ("10.0.0.1",)) == "198.51.100.7"


def test_a_trusted_proxy_names_the_client_rightmost_first() -> None:
    """Through trusted proxies, the rightmost untrusted hop is the client (earlier hops
    were written by the client and are not believed)."""
    proxies = ("10.0.0.1", "10.0.0.2")
    request = _request("10.0.0.1", "1.2.3.4, 203.0.113.9, 10.0.0.2")
    assert client_address(request, proxies) == "203.0.113.9"
    bare = _request("10.0.0.1")
    assert client_address(bare, proxies) == "10.0.0.1"
