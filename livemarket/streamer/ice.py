"""ICE settings for the server's peer connections.

Two aiortc/aioice defaults do not suit a server: with no ``iceServers`` aiortc
contacts Google's public STUN server, and aioice never offers 127.0.0.1 as a
host candidate (so loopback tests and single-host deployments cannot connect).
Here the STUN/TURN servers come from settings (none by default), the host
addresses to offer are a setting, and a public address can be announced for
NAT and cloud deployments by rewriting the answer's host candidates.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

_host_addresses: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "livemarket_ice_host_addresses", default=None
)
_original_get_host_addresses = aioice.ice.get_host_addresses


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    chosen = _host_addresses.get()
    if chosen is None:
        return _original_get_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    return list(chosen)


def install() -> None:
    """Route aioice's host-address lookup through :func:`host_addresses` (idempotent).

    Outside a ``host_addresses`` block the lookup is aioice's own, so other
    peer connections in the process are unaffected.
    """
    if not hasattr(aioice.ice, "get_host_addresses"):
        raise RuntimeError("aioice.ice.get_host_addresses is gone: check the aioice pin")
    aioice.ice.get_host_addresses = _get_host_addresses


@contextmanager
def host_addresses(addresses: Sequence[str]) -> Iterator[None]:
    """Offer exactly ``addresses`` as host candidates for gathering done inside the block.

    An empty sequence means aioice's default (every interface but loopback).
    """
    install()
    token = _host_addresses.set(tuple(addresses) if addresses else None)
    try:
        yield
    finally:
        _host_addresses.reset(token)


@dataclass(frozen=True)
class IceConfig:
    """What the server's peer connections are told about ICE."""

    servers: tuple[str, ...] = ()
    host_addresses: tuple[str, ...] = ()
    public_address: str = ""

    @classmethod
    def from_settings(cls, settings: Any) -> IceConfig:
        return cls(
            servers=tuple(settings.ice_servers),
            host_addresses=tuple(settings.ice_host_addresses),
            public_address=settings.ice_public_address,
        )

    def rtc_configuration(self) -> RTCConfiguration:
        """An explicit (possibly empty) server list: never aiortc's public STUN default."""
        return RTCConfiguration(iceServers=[_ice_server(url) for url in self.servers])


def _ice_server(url: str) -> RTCIceServer:
    """``turn:user:pass@host:port`` carries TURN credentials; other URLs pass through."""
    match = re.fullmatch(r"(turns?):([^:@]+):([^@]+)@(.+)", url)
    if match:
        scheme, username, credential, rest = match.groups()
        return RTCIceServer(urls=f"{scheme}:{rest}", username=username, credential=credential)
    return RTCIceServer(urls=url)


_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host)(.*)$", re.MULTILINE)


def announce_public_address(sdp: str, public_address: str) -> str:
    """Replace the host candidates' addresses (and ``c=`` lines) with ``public_address``.

    Behind 1:1 NAT the server's own addresses are unreachable; the public one
    forwards to the same ports. An empty address leaves the SDP unchanged.
    """
    if not public_address:
        return sdp
    sdp = _CANDIDATE.sub(lambda m: f"{m[1]}{public_address}{m[3]}{m[4]}", sdp)
    family = "IP6" if ":" in public_address else "IP4"
    return re.sub(
        r"^c=IN IP[46] [^\r\n]+", f"c=IN {family} {public_address}", sdp, flags=re.MULTILINE
    )
