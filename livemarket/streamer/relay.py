"""The forwarding relay of one special: one publisher in, many viewers out.

Encoded frames come off the publisher's receivers (:mod:`ingest`), are put on
the relay's continuous timeline (:mod:`timeline`) and cut into RTP payloads
once (:mod:`packetizer`); every viewer's :class:`~.rtpout.ViewerOutput` then
only writes its own RTP header, SRTP-protects and sends, synchronously, in the
callback that delivered the frame. Nothing is queued per viewer: a viewer not
connected yet, or whose socket backs up, is gated (:mod:`forwarding`) and
resumes at the next keyframe. Loss on the ingest that NACK could not repair
(:mod:`jitter`) gates the whole stream the same way: viewers and the
recording never get a broken delta chain. Viewers' PLI/FIR and the gates'
needs become at most one keyframe request to the publisher at a time
(:mod:`keyframes`). NACKs are answered from each viewer's own history and
never reach the publisher.

A publisher may be replaced (same host reconnecting) while viewers stay
connected: they wait for the new stream's first keyframe and carry on.
Everything runs on the event loop; the only thread work is recording.

Spreading a special's viewers over worker processes (one process tops out
near one core): the unit of fan-out is already "one packetized frame (shared
payloads, timestamp, keyframe flag) to many outputs", and nothing per viewer
depends on the ingest beyond that. A worker would own a share of the viewers'
peer connections (ICE, DTLS, SRTP, their RTCP) and their ``ViewerOutput``s,
and receive each packetized frame once from the ingest process over a local
socket or shared-memory ring; keyframe requests (the gates' and the viewers'
PLI) go back the same way into the one :class:`~.keyframes.KeyframeThrottle`.
WHEP would be answered by the worker the viewer was assigned to (the scale-out
directory already routes by instance URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription, clock
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from livemarket.errors import Conflict, DomainError, ErrorKind, NotFound
from livemarket.storage.base import utcnow
from livemarket.streamer.codecs import (
    KINDS,
    CodecChoice,
    default_choice,
    is_keyframe,
    offer_accepts,
    offered_kinds,
    pick_publisher_codec,
)
from livemarket.streamer.figures import RateMeter
from livemarket.streamer.forwarding import KeyframeGate
from livemarket.streamer.ice import IceConfig, announce_public_address, host_addresses
from livemarket.streamer.ingest import FrameTap, tap_receiver
from livemarket.streamer.keyframes import KeyframeThrottle
from livemarket.streamer.packetizer import Packetizer
from livemarket.streamer.recorder import Recorder
from livemarket.streamer.rtpout import ViewerOutput
from livemarket.streamer.timeline import Timeline
from livemarket.streamer.tracks import HeldTrack

logger = logging.getLogger(__name__)

#: Relay states shown to viewers: no stream yet, streaming, publisher lost, host ended.
OFFLINE, LIVE, RECONNECTING, ENDED = "offline", "live", "reconnecting", "ended"

#: A peer that has not connected this long after its answer is dropped (a hostile or
#: broken client must not hold a viewer slot).
CONNECT_TIMEOUT_S = 20.0
#: How long shutdown waits for peer connections to finish closing.
CLOSE_TIMEOUT_S = 5.0

RecorderFactory = Callable[[int, dict[str, CodecChoice]], Recorder]
StateListener = Callable[[int, str], None]


@dataclass(frozen=True)
class RelayLimits:
    """The keyframe-request retry interval, and how long an ingest gap may wait for NACK."""

    keyframe_retry_s: float = 0.5
    loss_give_up_s: float = 0.3


@dataclass
class _Publisher:
    session_id: str
    owner_id: int
    pc: RTCPeerConnection
    codecs: dict[str, CodecChoice]
    taps: list[FrameTap] = field(default_factory=list)
    video_receiver: RTCRtpReceiver | None = None
    recorder: Recorder | None = None
    started_at: datetime = field(default_factory=utcnow)


@dataclass
class _Viewer:
    session_id: str
    pc: RTCPeerConnection
    tracks: dict[str, HeldTrack]
    outputs: dict[str, ViewerOutput]
    started_at: datetime = field(default_factory=utcnow)


def _invalid_sdp(exc: Exception) -> DomainError:
    return DomainError("invalid_sdp", f"the SDP offer was not accepted: {exc}")


class Relay:
    """Media of one special. Create through :class:`~livemarket.streamer.registry.RelayRegistry`."""

    def __init__(
        self,
        special_id: int,
        ice: IceConfig,
        *,
        limits: RelayLimits | None = None,
        recorder_factory: RecorderFactory | None = None,
        on_state: StateListener | None = None,
        clock: Callable[[], float] = time.monotonic,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.special_id = special_id
        self._connect_timeout_s = connect_timeout_s
        self.state = OFFLINE
        self._ice = ice
        self._limits = limits or RelayLimits()
        self._recorder_factory = recorder_factory
        self._on_state = on_state
        self._clock = clock
        self._codecs: dict[str, CodecChoice] = {kind: default_choice(kind) for kind in KINDS}
        self._timelines = {"audio": Timeline(48000), "video": Timeline(90000)}
        self._meters = {kind: RateMeter() for kind in KINDS}
        self._packetizers: dict[str, Packetizer] = {}
        # Gates the publisher's video as a whole after unrepaired ingest loss.
        self._ingest_gate = KeyframeGate()
        self._ingest_losses = 0
        self._throttle = KeyframeThrottle(self._limits.keyframe_retry_s)
        self._publisher: _Publisher | None = None
        self._viewers: dict[str, _Viewer] = {}
        self._publish_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._deadlines: set[asyncio.Task[None]] = set()
        self._closed = False
        self.recordings: list[dict[str, Any]] = []
        #: Extra consumers of every encoded frame (simulcast); ``push`` must never block.
        self.sinks: list[Any] = []

    # -- publisher ---------------------------------------------------------------

    @property
    def publisher_owner(self) -> int | None:
        return self._publisher.owner_id if self._publisher else None

    async def publish(self, offer_sdp: str, owner_id: int) -> tuple[str, str]:
        """Accept a publisher's offer; returns (session id, answer SDP).

        Conflict when another user publishes; the same user replaces their
        own session (a page reload or an encoder reconnecting).
        """
        async with self._publish_lock:
            self._check_open()
            if self._publisher is not None and self._publisher.owner_id != owner_id:
                raise Conflict("stream_busy", "another publisher is live on this special")
            kinds = self._parse(offer_sdp)
            codecs: dict[str, CodecChoice] = {}
            for kind, offered in kinds.items():
                try:
                    codecs[kind] = pick_publisher_codec(offered, self._codecs[kind])
                except ValueError as exc:
                    raise DomainError(
                        "codec_unsupported", f"no supported {kind} codec offered"
                    ) from exc
            session_id = secrets.token_urlsafe(16)
            pc = RTCPeerConnection(self._ice.rtc_configuration())
            publisher = _Publisher(session_id, owner_id, pc, codecs)
            for kind, choice in codecs.items():
                transceiver = pc.addTransceiver(kind, direction="recvonly")
                transceiver.setCodecPreferences(choice.preferences())
                publisher.taps.append(
                    tap_receiver(
                        transceiver.receiver,
                        self._frame_handler(kind, session_id),
                        on_loss=self._loss_handler(session_id),
                        give_up_s=self._limits.loss_give_up_s,
                    )
                )
                if kind == "video":
                    publisher.video_receiver = transceiver.receiver
            answer = await self._answer(pc, offer_sdp)
            if self._closed:  # closed while the answer was gathered (see ``play``)
                for tap in publisher.taps:
                    tap.close()
                await self._close_peer(pc)
                self._check_open()
            old, self._publisher = self._publisher, publisher
            self._watch(pc, lambda: self._publisher_lost(publisher))
            if old is not None:
                await self._stop_publisher(old)
            await self._switch_codecs(codecs)
            for timeline in self._timelines.values():
                timeline.new_source()
            self._throttle.reset()
            self._packetizers.clear()
            self._ingest_gate.restart()
            for viewer in self._viewers.values():
                for output in viewer.outputs.values():
                    output.gate.restart()
            if self._recorder_factory is not None:
                publisher.recorder = self._recorder_factory(self.special_id, codecs)
            self._set_state(LIVE)
            return session_id, answer

    async def end_publisher(self, session_id: str) -> None:
        """The publisher hung up (WHIP DELETE): viewers stay, waiting for a new stream."""
        async with self._publish_lock:
            publisher = self._publisher
            if publisher is None or publisher.session_id != session_id:
                raise NotFound("session_not_found", "no such publishing session")
            self._publisher = None
            await self._stop_publisher(publisher)
            self._set_state(ENDED)

    async def _publisher_lost(self, publisher: _Publisher) -> None:
        async with self._publish_lock:
            if self._publisher is not publisher:
                return
            self._publisher = None
            await self._stop_publisher(publisher)
            self._set_state(RECONNECTING)

    async def _stop_publisher(self, publisher: _Publisher) -> None:
        for tap in publisher.taps:
            tap.close()
        await self._close_peer(publisher.pc)
        if publisher.recorder is not None:
            info = await publisher.recorder.close()
            if info.frames["video"] or info.frames["audio"]:
                self.recordings.append(info.as_dict())

    async def _switch_codecs(self, codecs: dict[str, CodecChoice]) -> None:
        """Adopt the publisher's codecs; viewers negotiated for another one must reconnect."""
        changed = [kind for kind, choice in codecs.items() if choice != self._codecs[kind]]
        self._codecs.update(codecs)
        if not changed:
            return
        stale = [
            viewer
            for viewer in self._viewers.values()
            if any(kind in viewer.tracks for kind in changed)
        ]
        for viewer in stale:
            await self._drop_viewer(viewer)

    # -- viewers -----------------------------------------------------------------

    @property
    def viewer_count(self) -> int:
        return len(self._viewers)

    @property
    def viewer_sessions(self) -> list[str]:
        """Session ids of the connected viewers (their WHEP Locations end in these)."""
        return list(self._viewers)

    def codec(self, kind: str) -> CodecChoice:
        """The codec viewers negotiate for ``kind`` right now."""
        return self._codecs[kind]

    async def play(self, offer_sdp: str) -> tuple[str, str]:
        """Accept a viewer's recvonly offer; returns (session id, answer SDP)."""
        self._check_open()
        kinds = self._parse(offer_sdp)
        session_id = secrets.token_urlsafe(16)
        pc = RTCPeerConnection(self._ice.rtc_configuration())
        tracks: dict[str, HeldTrack] = {}
        outputs: dict[str, ViewerOutput] = {}
        try:
            for kind, offered in kinds.items():
                choice = self._codecs[kind]
                if not offer_accepts(offered, choice):
                    raise DomainError(
                        "codec_unsupported",
                        f"the stream is {choice.label}, which the offer does not include",
                    )
                track = HeldTrack(kind)
                transceiver = pc.addTransceiver(track, direction="sendonly")
                transceiver.setCodecPreferences(choice.preferences())
                # The sender negotiates and handles RTCP; the relay sends its RTP, and
                # its PLI/FIR go to the publisher (throttled).
                outputs[kind] = ViewerOutput(transceiver.sender, self.request_keyframe)
                tracks[kind] = track
            answer = await self._answer(pc, offer_sdp)
            # The relay may have closed while the answer was gathered: a viewer added
            # now would never be hung up, and its sockets would outlive the server.
            self._check_open()
        except BaseException as error:
            await self._close_unless_cancelled(pc, error)
            raise
        viewer = _Viewer(session_id, pc, tracks, outputs)
        self._viewers[session_id] = viewer
        self._watch(pc, lambda: self._drop_viewer(viewer))
        # No keyframe request yet: the viewer asks through its gate once it is
        # connected and can use one.
        return session_id, answer

    async def end_viewer(self, session_id: str) -> None:
        """The viewer hung up (WHEP DELETE)."""
        viewer = self._viewers.get(session_id)
        if viewer is None:
            raise NotFound("session_not_found", "no such playback session")
        await self._drop_viewer(viewer)

    async def _drop_viewer(self, viewer: _Viewer) -> None:
        if self._viewers.get(viewer.session_id) is viewer:
            del self._viewers[viewer.session_id]
        # Outputs first: closing the peer may be cancelled (shutdown), and an output
        # owns a duplicate of the ICE socket that nothing else would close.
        for output in viewer.outputs.values():
            output.close()
        for track in viewer.tracks.values():
            track.stop()
        await self._close_peer(viewer.pc)

    # -- frames ------------------------------------------------------------------

    def _frame_handler(
        self, kind: str, session_id: str
    ) -> Callable[[RTCRtpCodecParameters, JitterFrame], None]:
        def handle(codec: RTCRtpCodecParameters, frame: JitterFrame) -> None:
            publisher = self._publisher
            if publisher is not None and publisher.session_id == session_id:
                self._forward(kind, publisher, codec, frame)

        return handle

    def _loss_handler(self, session_id: str) -> Callable[[], None]:
        def lost() -> None:
            publisher = self._publisher
            if publisher is not None and publisher.session_id == session_id:
                self._ingest_losses += 1
                self._ingest_gate.break_chain()
                self.request_keyframe()

        return lost

    def _forward(
        self, kind: str, publisher: _Publisher, codec: RTCRtpCodecParameters, frame: JitterFrame
    ) -> None:
        now = self._clock()
        data = frame.data
        keyframe = is_keyframe(codec.mimeType, data)
        self._meters[kind].add(now, len(data))
        if kind == "video":
            if keyframe:
                self._throttle.keyframe_arrived()
            if not self._ingest_gate.admit(keyframe=keyframe):
                self.request_keyframe()  # the chain broke on the ingest: wait for a new one
                return
        timestamp = self._timelines[kind].map(frame.timestamp, now)
        packetizer = self._packetizers.get(kind)
        if packetizer is None or packetizer.mime_type != codec.mimeType:
            packetizer = self._packetizers[kind] = Packetizer(codec)
        payloads = packetizer.packetize(data, timestamp)
        ntp_time = clock.current_ntp_time()
        wants_keyframe = False
        for viewer in self._viewers.values():
            output = viewer.outputs.get(kind)
            if output is not None and output.offer(payloads, timestamp, ntp_time, keyframe):
                wants_keyframe = True
        if publisher.recorder is not None:
            publisher.recorder.push(kind, data, timestamp, keyframe)
        for sink in self.sinks:
            sink.push(kind, data, timestamp, keyframe)
        if wants_keyframe:
            self.request_keyframe()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, unless a request is already on its way."""
        publisher = self._publisher
        receiver = publisher.video_receiver if publisher else None
        if receiver is None:
            return
        sources = receiver.getSynchronizationSources()
        if not sources or not self._throttle.request(self._clock()):
            return  # no packet yet: the stream's first frame is a keyframe anyway
        self._spawn(receiver._send_rtcp_pli(sources[0].source))

    # -- plumbing ----------------------------------------------------------------

    def _parse(self, offer_sdp: str) -> dict[str, list[RTCRtpCodecParameters]]:
        try:
            kinds = offered_kinds(offer_sdp)
        except (ValueError, KeyError, IndexError) as exc:
            raise _invalid_sdp(exc) from exc
        if not kinds:
            raise DomainError("invalid_sdp", "the SDP offer has no audio or video")
        return kinds

    async def _answer(self, pc: RTCPeerConnection, offer_sdp: str) -> str:
        """Negotiate, letting ICE gathering finish even if the request is cancelled.

        aioice binds each host candidate's socket before it records it in the
        connection; a cancellation in between (a client hanging up mid-request, or
        the server stopping) leaves a socket that ``pc.close()`` cannot see. So the
        negotiation runs to its end and the cancellation is passed on afterwards,
        when the caller's ``pc.close()`` closes everything.
        """
        negotiation = asyncio.ensure_future(self._negotiate(pc, offer_sdp))
        try:
            return await asyncio.shield(negotiation)
        except asyncio.CancelledError:
            # The caller is gone and will not close ``pc`` (see ``_close_unless_cancelled``);
            # an owned task closes it once the negotiation is over.
            self._spawn(self._close_after(negotiation, pc))
            raise

    @staticmethod
    async def _close_after(negotiation: asyncio.Future[str], pc: RTCPeerConnection) -> None:
        await asyncio.wait([negotiation])
        await pc.close()

    @staticmethod
    async def _close_unless_cancelled(pc: RTCPeerConnection, error: BaseException) -> None:
        """Close a peer whose setup failed; a cancelled one is closed by ``_answer``."""
        if not isinstance(error, asyncio.CancelledError):
            await pc.close()

    async def _negotiate(self, pc: RTCPeerConnection, offer_sdp: str) -> str:
        try:
            with host_addresses(self._ice.host_addresses):
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
                await pc.setLocalDescription(await pc.createAnswer())
        except DomainError:
            raise
        except Exception as exc:  # aiortc raises assorted errors for bad offers
            await pc.close()
            raise _invalid_sdp(exc) from exc
        return announce_public_address(pc.localDescription.sdp, self._ice.public_address)

    def _watch(
        self, pc: RTCPeerConnection, on_lost: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        """Call ``on_lost`` once when the peer fails, closes, or never connects."""
        lost = False

        def lose() -> None:
            nonlocal lost
            if not lost and not self._closed:
                lost = True
                self._spawn(on_lost())

        @pc.on("connectionstatechange")
        def _changed() -> None:
            if pc.connectionState in ("failed", "closed"):
                lose()

        async def deadline() -> None:
            await asyncio.sleep(self._connect_timeout_s)
            if pc.connectionState != "connected":
                lose()

        task = asyncio.get_running_loop().create_task(deadline())
        self._deadlines.add(task)
        task.add_done_callback(self._deadlines.discard)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _close_peer(self, pc: RTCPeerConnection) -> None:
        """Close ``pc`` in a task the relay owns, and wait for it.

        The caller may be cancelled meanwhile (a WHEP DELETE whose page is gone, cut
        short when the server stops). aiortc's close, cancelled part-way, leaves the
        ICE sockets open for good (a later close only waits for the first one), so
        the close runs on by itself and :meth:`close` waits for it.
        """
        await asyncio.shield(self._spawn(pc.close()))

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        if self._on_state is not None:
            self._on_state(self.special_id, state)

    def _check_open(self) -> None:
        if self._closed:
            raise DomainError(
                "relay_closed", "the server is shutting down", kind=ErrorKind.UNAVAILABLE
            )

    async def close(self) -> None:
        """Hang up everyone and finish the recording (server shutdown)."""
        self._closed = True
        for task in list(self._deadlines):
            task.cancel()
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await self._stop_publisher(publisher)
        for viewer in list(self._viewers.values()):
            await self._drop_viewer(viewer)
        await asyncio.gather(*self._deadlines, return_exceptions=True)
        # Let the few remaining tasks (peer closes, keyframe requests) finish rather
        # than cancel them: cancelling a task awaiting RTCPeerConnection.close() breaks
        # aiortc's close of that connection for its other waiters.
        pending = list(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=CLOSE_TIMEOUT_S)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- figures -----------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        """Per-stream and per-viewer figures for the studio page and metrics."""
        now = self._clock()
        publisher = self._publisher
        media = {
            kind: {
                "codec": self._codecs[kind].mime_type,
                "fps": round(self._meters[kind].per_second(now), 1),
                "bitrate_bps": int(self._meters[kind].bits_per_second(now)),
                "frames": self._meters[kind].total_events,
                "bytes": self._meters[kind].total_bytes,
            }
            for kind in KINDS
        }
        viewers = []
        for viewer in self._viewers.values():
            video = viewer.outputs.get("video")
            viewers.append(
                {
                    "session": viewer.session_id[:8],
                    "since": viewer.started_at.isoformat(),
                    "forwarded": video.gate.forwarded if video else 0,
                    "dropped": video.gate.dropped if video else 0,
                    "skips": video.gate.skips if video else 0,
                }
            )
        return {
            "special_id": self.special_id,
            "state": self.state,
            "publishing": publisher is not None,
            "live_since": publisher.started_at.isoformat() if publisher else None,
            "viewers": len(self._viewers),
            "video": media["video"],
            "audio": media["audio"],
            "keyframe_requests": self._throttle.sent,
            "keyframe_requests_suppressed": self._throttle.suppressed,
            "ingest_losses": self._ingest_losses,
            "ingest_frames_dropped": self._ingest_gate.dropped,
            "viewer_frames_dropped": sum(v["dropped"] for v in viewers),
            "viewer_skips": sum(v["skips"] for v in viewers),
            "viewer_details": viewers,
        }
