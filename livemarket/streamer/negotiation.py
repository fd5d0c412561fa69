"""Answering an SDP offer and hanging up a peer, each within a deadline, whatever aiortc raises.

aiortc was written for peers that send well-formed offers. A hostile or broken
one makes it raise nearly anything (``AssertionError``, ``AttributeError``,
``KeyError``, ``RuntimeError`` from a ``StopIteration`` in a coroutine...), at
parse time or later in ``createAnswer``; every such error is the offer's fault
and becomes ``400 invalid_sdp`` with aiortc's reason.

Worse, ``RTCPeerConnection.close()`` then raises part-way too (a transceiver
whose transport was never set up), *after* creating the future its later calls
wait on; that future is never resolved, so every later ``close()`` waits
forever. :func:`close_peer` is the one way the relay hangs up: bounded, and if
aiortc's close fails or overruns it stops the transports that exist itself and
resolves that future, so nothing waits on it for good. (aiortc is pinned exactly
in ``pyproject.toml``; ``tests/streamer/test_negotiation.py`` guards the private
name.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from livemarket.errors import DomainError, ErrorKind
from livemarket.streamer.codecs import offered_kinds
from livemarket.streamer.ice import IceConfig, announce_public_address, host_addresses

logger = logging.getLogger(__name__)

#: An offer is answered within this, or refused (ICE gathering on host addresses takes
#: milliseconds; with STUN/TURN servers a few seconds at most).
NEGOTIATE_TIMEOUT_S = 10.0
#: A hang-up that takes longer is finished by hand (:func:`close_peer`).
CLOSE_TIMEOUT_S = 5.0
#: What a viewer refused for a slow negotiation is told to wait.
RETRY_AFTER_S = 2

#: aiortc's "closed" future (``RTCPeerConnection.__isClosed``); see the module docstring.
_CLOSED_FUTURE = "_RTCPeerConnection__isClosed"


def invalid_offer(reason: object) -> DomainError:
    """``400 invalid_sdp`` naming what was wrong (aiortc's message, or its exception type)."""
    text = str(reason) if str(reason) else type(reason).__name__
    return DomainError(
        "invalid_sdp",
        f"The SDP offer was not accepted: {text[:200]}",
        kind=ErrorKind.MALFORMED,
    )


class NegotiationTimeout(DomainError):
    """The offer was not answered within the deadline: 503, try again shortly."""

    kind = ErrorKind.UNAVAILABLE

    def __init__(self) -> None:
        super().__init__(
            "negotiation_timeout",
            "The offer could not be answered in time; please try again.",
            retry_after=RETRY_AFTER_S,
        )


def parse_offer(offer_sdp: str) -> dict[str, list[Any]]:
    """The offer's media kinds with their codecs; ``invalid_sdp`` for anything unreadable.

    aiortc's parser is pure, so any exception it raises (asserts and attribute
    errors included) is about the text, never about the server.
    """
    try:
        kinds = offered_kinds(offer_sdp)
    except Exception as exc:  # noqa: BLE001 (every parser failure is the offer's)
        raise invalid_offer(exc) from exc
    if not kinds:
        raise DomainError(
            "invalid_sdp", "The SDP offer has no audio or video.", kind=ErrorKind.MALFORMED
        )
    return kinds


async def answer(pc: RTCPeerConnection, offer_sdp: str, ice: IceConfig) -> str:
    """Set the offer and return the answer SDP; ``invalid_sdp`` for whatever aiortc raises.

    Does not close ``pc`` on failure: its owner does, once, through :func:`close_peer`.
    """
    try:
        with host_addresses(ice.host_addresses):
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
    except DomainError:
        raise
    except Exception as exc:  # noqa: BLE001 (aiortc raises assorted errors for bad offers)
        raise invalid_offer(exc) from exc
    finally:
        _quiet_connect_tasks(pc)
    return announce_public_address(pc.localDescription.sdp, ice.public_address)


def _quiet_connect_tasks(pc: RTCPeerConnection) -> None:
    """Retrieve what ``pc``'s own connect tasks raise; log it in one line.

    Setting each description starts a task nobody keeps (``RTCPeerConnection.__connect``).
    With an odd offer it fails (the way the answer did, or later, for an answered
    offer whose parameters aiortc cannot start with); unretrieved, asyncio logs a
    traceback for each, one per hostile offer: a log flood. The peer itself is
    refused (400) or never connects (hung up after the grace).
    """
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        if frame is not None and frame.f_locals.get("self") is pc:
            task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.info("a peer could not start connecting: %r", error)


async def close_peer(pc: RTCPeerConnection, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
    """Close ``pc`` within about ``timeout_s``; never raises, never leaves a close waiting.

    aiortc's close runs in its own task and is never cancelled while it may still
    finish (a later ``close()`` awaits aiortc's "closed" future, and cancelling that
    waiter would cancel the future for everyone). If it fails or overruns, the
    transports are stopped here and the future is resolved, which also ends any
    ``close()`` still waiting on it.
    """
    closing = asyncio.ensure_future(pc.close())
    done, _ = await asyncio.wait([closing], timeout=timeout_s)
    if done and not closing.cancelled() and closing.exception() is None:
        return
    reason = closing.exception() if done and not closing.cancelled() else "no answer in time"
    logger.warning("closing a peer connection failed (%r); stopping its transports", reason)
    await _stop_transports(pc, timeout_s)
    _mark_closed(pc)
    if not closing.done():
        await asyncio.wait([closing], timeout=timeout_s)
    if not closing.done():  # stuck inside aiortc: give up on it, the sockets are closed
        closing.cancel()
        await asyncio.wait([closing])
    with contextlib.suppress(Exception, asyncio.CancelledError):
        pc.remove_all_listeners()


def _mark_closed(pc: RTCPeerConnection) -> None:
    """Resolve aiortc's "closed" future (or put a resolved one in place of a broken one)."""
    closed = getattr(pc, _CLOSED_FUTURE, None)
    if isinstance(closed, asyncio.Future):
        if not closed.done():
            closed.set_result(True)
            return
        if not closed.cancelled() and closed.exception() is None:
            return
    resolved = asyncio.get_running_loop().create_future()
    resolved.set_result(True)
    setattr(pc, _CLOSED_FUTURE, resolved)


async def _stop_transports(pc: RTCPeerConnection, timeout_s: float) -> None:
    """Stop every DTLS and ICE transport ``pc`` has, each on its own (one failing is skipped)."""
    stops: list[Any] = []
    for transceiver in pc.getTransceivers():
        stops.append(transceiver.stop())
        dtls = transceiver.receiver.transport
        if dtls is not None:
            stops.append(dtls.stop())
            stops.append(dtls.transport.stop())
    sctp = pc.sctp
    if sctp is not None:
        stops.extend([sctp.stop(), sctp.transport.stop(), sctp.transport.transport.stop()])
    for stop in stops:
        try:
            async with asyncio.timeout(timeout_s):
                await stop
        except Exception as exc:  # noqa: BLE001 (best effort: the next one may still work)
            logger.debug("stopping a transport failed: %r", exc)
