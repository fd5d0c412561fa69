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
import weakref
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aiortc import RTCPeerConnection, RTCRtpReceiver, clock
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from livemarket.errors import Conflict, DomainError, ErrorKind, NotFound
from livemarket.storage.base import utcnow
from livemarket.streamer import dtls
from livemarket.streamer.codecs import (
    KINDS,
    CodecChoice,
    default_choice,
    is_keyframe,
    pick_publisher_codec,
    viewer_codec,
)
from livemarket.streamer.failures import FailureNote, failure_reason, reporting_to
from livemarket.streamer.figures import RateMeter
from livemarket.streamer.forwarding import KeyframeGate
from livemarket.streamer.ice import IceConfig
from livemarket.streamer.ingest import FrameTap, tap_receiver
from livemarket.streamer.keyframes import KeyframeThrottle
from livemarket.streamer.negotiation import (
    NEGOTIATE_TIMEOUT_S,
    NegotiationTimeout,
    answer,
    close_peer,
    parse_offer,
)
from livemarket.streamer.packetizer import Packetizer
from livemarket.streamer.recorder import Recorder
from livemarket.streamer.rtpout import ViewerOutput
from livemarket.streamer.timeline import Timeline
from livemarket.streamer.tracks import HeldTrack

logger = logging.getLogger(__name__)

#: Relay states shown to viewers: no stream yet, streaming, publisher lost, host ended.
OFFLINE, LIVE, RECONNECTING, ENDED = "offline", "live", "reconnecting", "ended"

#: A peer that has not connected this long after its answer is dropped (a hostile or
#: broken client must not hold a viewer slot); the registry passes the configured grace.
CONNECT_TIMEOUT_S = 10.0
#: How long shutdown waits for peer connections to finish closing.
CLOSE_TIMEOUT_S = 5.0
#: Viewer sessions remembered after their connection dropped, so a late DELETE is 200.
DROPPED_VIEWERS_KEPT = 1024

RecorderFactory = Callable[[int, dict[str, CodecChoice]], Recorder]
StateListener = Callable[[int, str], None]


class SessionSink(Protocol):
    """A consumer of one publishing session's frames (HLS); ``push`` must never block."""

    def push(self, kind: str, data: bytes, timestamp: int, keyframe: bool) -> None: ...

    async def close(self) -> None: ...


#: Called when a publisher starts, with its codecs: a sink for that session's frames, or
#: None. The sink is closed when the session ends (hung up, lost, replaced, shutdown).
SessionSinkFactory = Callable[["Relay", dict[str, CodecChoice]], SessionSink | None]


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
    video_tap: FrameTap | None = None
    recorder: Recorder | None = None
    sinks: list[SessionSink] = field(default_factory=list)
    started_at: datetime = field(default_factory=utcnow)


@dataclass
class _Viewer:
    session_id: str
    pc: RTCPeerConnection
    tracks: dict[str, HeldTrack]
    outputs: dict[str, ViewerOutput]
    on_settled: Callable[[], None] | None = None
    started_at: datetime = field(default_factory=utcnow)

    def settle(self) -> None:
        """No longer waiting to connect (connected, or gone): tell the seat keeper, once."""
        on_settled, self.on_settled = self.on_settled, None
        if on_settled is not None:
            on_settled()


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
        negotiate_timeout_s: float = NEGOTIATE_TIMEOUT_S,
        session_sinks: list[SessionSinkFactory] | None = None,
    ) -> None:
        dtls.install()  # RSA-certificate peers (GStreamer) can shake hands
        self.special_id = special_id
        self._connect_timeout_s = connect_timeout_s
        self._negotiate_timeout_s = negotiate_timeout_s
        self.state = OFFLINE
        self._ice = ice
        self._limits = limits or RelayLimits()
        self._recorder_factory = recorder_factory
        self._on_state = on_state
        self._clock = clock
        self._codecs: dict[str, CodecChoice] = {kind: default_choice(kind) for kind in KINDS}
        # Whether a publisher has chosen ``_codecs`` (else they are the pre-show default).
        self._codecs_chosen = False
        self._timelines = {"audio": Timeline(48000), "video": Timeline(90000)}
        self._meters = {kind: RateMeter() for kind in KINDS}
        self._packetizers: dict[str, Packetizer] = {}
        # Gates the publisher's video as a whole after unrepaired ingest loss.
        self._ingest_gate = KeyframeGate()
        self._ingest_losses = 0
        self._throttle = KeyframeThrottle(self._limits.keyframe_retry_s)
        self._publisher: _Publisher | None = None
        # The session of a publisher whose connection dropped, while nobody has
        # replaced it: its late DELETE still ends the broadcast (a client may close
        # its peer connection before it sends the DELETE).
        self._dropped_publisher: str | None = None
        self._viewers: dict[str, _Viewer] = {}
        self._dropped_viewers: deque[str] = deque(maxlen=DROPPED_VIEWERS_KEPT)
        self._publish_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Why each peer connection failed to connect, if it does (see ``failures``).
        self._notes: weakref.WeakKeyDictionary[RTCPeerConnection, FailureNote] = (
            weakref.WeakKeyDictionary()
        )
        self.negotiation_failures = {"publisher": 0, "viewer": 0}
        self.publisher_failure: dict[str, str] | None = None
        self._deadlines: set[asyncio.Task[None]] = set()
        self._closed = False
        self.recordings: list[dict[str, Any]] = []
        #: Extra consumers of every encoded frame (simulcast); ``push`` must never block.
        self.sinks: list[Any] = []
        #: Makers of per-session sinks (HLS: one run per publishing session); the list may
        #: be shared with the registry, so a maker added later serves the next publisher.
        self.session_sinks: list[SessionSinkFactory] = (
            session_sinks if session_sinks is not None else []
        )

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
            kinds = parse_offer(offer_sdp)
            codecs: dict[str, CodecChoice] = {}
            for kind, offered in kinds.items():
                # A returning publisher keeps the show's codec if it can, so viewers keep
                # decoding; the first one picks its own (the studio prefers H.264, which
                # HLS carries untouched); viewers waiting on the default then reconnect.
                preferred = self._codecs[kind] if self._codecs_chosen else None
                try:
                    codecs[kind] = pick_publisher_codec(offered, preferred)
                except ValueError as exc:
                    raise DomainError(
                        "codec_unsupported", f"no supported {kind} codec offered"
                    ) from exc
            session_id = secrets.token_urlsafe(16)
            pc = RTCPeerConnection(self._ice.rtc_configuration())
            publisher = _Publisher(session_id, owner_id, pc, codecs)
            try:
                for kind, choice in codecs.items():
                    transceiver = pc.addTransceiver(kind, direction="recvonly")
                    transceiver.setCodecPreferences(choice.preferences())
                    tap = tap_receiver(
                        transceiver.receiver,
                        self._frame_handler(kind, session_id),
                        on_loss=self._loss_handler(session_id),
                        give_up_s=self._limits.loss_give_up_s,
                    )
                    publisher.taps.append(tap)
                    if kind == "video":
                        publisher.video_receiver = transceiver.receiver
                        publisher.video_tap = tap
                sdp = await self._answer(pc, offer_sdp)
                self._check_open()  # closed while the answer was gathered (see ``play``)
            except BaseException as error:
                for tap in publisher.taps:
                    tap.close()
                await self._close_unless_cancelled(pc, error)
                raise
            old, self._publisher = self._publisher, publisher
            self._dropped_publisher = None
            self._watch(pc, lambda: self._publisher_lost(publisher), role="publisher")
            if old is not None:
                await self._stop_publisher(old)
            await self._switch_codecs(codecs)
            self._codecs_chosen = True
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
            publisher.sinks = self._start_session_sinks(codecs)
            self._set_state(LIVE)
            return session_id, sdp

    async def end_publisher(self, session_id: str) -> None:
        """The publisher hung up (WHIP DELETE): viewers stay, waiting for a new stream.

        Also for the session whose connection has just dropped (the client closed
        its peer connection first) as long as no new session replaced it: the host
        meant to end the broadcast, not to leave it "reconnecting".
        """
        async with self._publish_lock:
            publisher = self._publisher
            if publisher is not None and publisher.session_id == session_id:
                self._publisher = None
                await self._stop_publisher(publisher)
            elif publisher is None and session_id == self._dropped_publisher:
                self._dropped_publisher = None
            else:
                raise NotFound("session_not_found", "no such publishing session")
            self._set_state(ENDED)

    async def _publisher_lost(self, publisher: _Publisher) -> None:
        async with self._publish_lock:
            if self._publisher is not publisher:
                return
            self._publisher = None
            self._dropped_publisher = publisher.session_id
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
        sinks, publisher.sinks = publisher.sinks, []
        for sink in sinks:
            try:
                await sink.close()
            except Exception:
                logger.exception("special %s: closing a session sink failed", self.special_id)

    def _start_session_sinks(self, codecs: dict[str, CodecChoice]) -> list[SessionSink]:
        sinks = []
        for make in self.session_sinks:
            try:
                sink = make(self, codecs)
            except Exception:  # a broken extra (HLS) must not stop the broadcast
                logger.exception("special %s: starting a session sink failed", self.special_id)
                continue
            if sink is not None:
                sinks.append(sink)
        return sinks

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
            await self._viewer_lost(viewer)

    # -- viewers -----------------------------------------------------------------

    @property
    def viewer_count(self) -> int:
        return len(self._viewers)

    @property
    def connected_count(self) -> int:
        """Viewers no longer waiting to connect (the pending ones hold seats elsewhere)."""
        return sum(1 for viewer in self._viewers.values() if viewer.on_settled is None)

    @property
    def viewer_sessions(self) -> list[str]:
        """Session ids of the connected viewers (their WHEP Locations end in these)."""
        return list(self._viewers)

    def codec(self, kind: str) -> CodecChoice:
        """The codec viewers negotiate for ``kind`` right now."""
        return self._codecs[kind]

    async def play(
        self, offer_sdp: str, on_settled: Callable[[], None] | None = None
    ) -> tuple[str, str]:
        """Accept a viewer's recvonly offer; returns (session id, answer SDP).

        ``on_settled`` is called once the viewer connects or is gone (hung up, failed,
        or not connected within the connect timeout): from then on it no longer waits
        for a seat. If ``play`` raises, it is not called.
        """
        self._check_open()
        kinds = parse_offer(offer_sdp)
        session_id = secrets.token_urlsafe(16)
        pc = RTCPeerConnection(self._ice.rtc_configuration())
        tracks: dict[str, HeldTrack] = {}
        outputs: dict[str, ViewerOutput] = {}
        try:
            for kind, offered in kinds.items():
                stream = self._codecs[kind]
                try:
                    choice = viewer_codec(offered, stream)
                except ValueError as exc:
                    raise DomainError(
                        "codec_unsupported",
                        f"the stream is {stream.label}, which the offer does not include",
                    ) from exc
                track = HeldTrack(kind)
                transceiver = pc.addTransceiver(track, direction="sendonly")
                transceiver.setCodecPreferences(choice.preferences())
                # The sender negotiates and handles RTCP; the relay sends its RTP, and
                # its PLI/FIR go to the publisher (throttled).
                outputs[kind] = ViewerOutput(transceiver.sender, self.request_keyframe)
                tracks[kind] = track
            sdp = await self._answer(pc, offer_sdp)
            # The relay may have closed while the answer was gathered: a viewer added
            # now would never be hung up, and its sockets would outlive the server.
            self._check_open()
        except BaseException as error:
            for track in tracks.values():
                track.stop()
            for output in outputs.values():
                output.close()
            await self._close_unless_cancelled(pc, error)
            raise
        viewer = _Viewer(session_id, pc, tracks, outputs, on_settled)
        self._viewers[session_id] = viewer
        self._watch(pc, lambda: self._viewer_lost(viewer), viewer.settle, role="viewer")

        @pc.on("connectionstatechange")
        def _ready() -> None:
            # The moment the viewer can receive, its picture waits for a keyframe:
            # ask now rather than at the next frame (the throttle merges a crowd).
            if pc.connectionState == "connected" and "video" in outputs:
                self.request_keyframe()

        return session_id, sdp

    async def end_viewer(self, session_id: str) -> None:
        """The viewer hung up (WHEP DELETE); harmless for a session that has just dropped."""
        viewer = self._viewers.get(session_id)
        if viewer is not None:
            await self._drop_viewer(viewer)
        elif session_id in self._dropped_viewers:
            self._dropped_viewers.remove(session_id)  # one DELETE per session answers 200
        else:
            raise NotFound("session_not_found", "no such playback session")

    async def _viewer_lost(self, viewer: _Viewer) -> None:
        """The viewer's connection failed or closed, or a codec change cut it off."""
        if self._viewers.get(viewer.session_id) is viewer:
            self._dropped_viewers.append(viewer.session_id)
        await self._drop_viewer(viewer)

    async def _drop_viewer(self, viewer: _Viewer) -> None:
        viewer.settle()
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
        for session_sink in publisher.sinks:
            session_sink.push(kind, data, timestamp, keyframe)
        if wants_keyframe:
            self.request_keyframe()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (a PLI), unless the throttle says one is on its way.

        The PLI names the media SSRC of the publisher's video; one naming its RTX
        SSRC (the first source a Chromium publisher sends, as bandwidth probes) is
        ignored by the encoder.
        """
        publisher = self._publisher
        if publisher is None or publisher.video_receiver is None or publisher.video_tap is None:
            return
        ssrc = publisher.video_tap.media_ssrc
        if ssrc is None or not self._throttle.request(self._clock()):
            return  # no video yet: the stream's first frame is a keyframe anyway
        self._spawn(publisher.video_receiver._send_rtcp_pli(ssrc))

    # -- plumbing ----------------------------------------------------------------

    async def _answer(self, pc: RTCPeerConnection, offer_sdp: str) -> str:
        """Negotiate within the deadline, letting ICE gathering finish if the request goes.

        aioice binds each host candidate's socket before it records it in the
        connection; a cancellation in between (a client hanging up mid-request, or
        the server stopping) leaves a socket that ``pc.close()`` cannot see. So a
        cancelled request leaves the negotiation running to its end in a task the
        relay owns, which then closes ``pc``. Only a negotiation past its deadline
        is cancelled (nothing may hold a seat for good); ``pc`` is closed after it.
        """
        negotiation = asyncio.ensure_future(self._noted_answer(pc, offer_sdp))
        try:
            # ``wait`` (unlike ``wait_for``) leaves the negotiation alone if we are cancelled.
            done, _ = await asyncio.wait([negotiation], timeout=self._negotiate_timeout_s)
        except asyncio.CancelledError:
            # The caller is gone and will not close ``pc`` (see ``_close_unless_cancelled``).
            self._spawn(self._close_after(negotiation, pc))
            raise
        if not done:
            logger.warning("special %s: an offer was not answered in time", self.special_id)
            negotiation.cancel()
            self._spawn(self._close_after(negotiation, pc))
            raise NegotiationTimeout()
        return negotiation.result()

    @staticmethod
    async def _close_after(negotiation: asyncio.Future[str], pc: RTCPeerConnection) -> None:
        await asyncio.wait([negotiation])
        if not negotiation.cancelled():
            negotiation.exception()  # retrieved: the request that wanted it is gone
        await close_peer(pc)

    async def _close_unless_cancelled(self, pc: RTCPeerConnection, error: BaseException) -> None:
        """Close a peer whose setup failed; a cancelled or late one is closed by ``_answer``."""
        if isinstance(error, asyncio.CancelledError):
            return
        if isinstance(error, NegotiationTimeout):
            return
        await self._close_peer(pc)

    async def _noted_answer(self, pc: RTCPeerConnection, offer_sdp: str) -> str:
        """Negotiate with aiortc's ICE and DTLS complaints noted for this peer, so a
        failure can later be reported with its reason (``streamer/failures.py``)."""
        note = self._notes.setdefault(pc, FailureNote())
        with reporting_to(note):
            return await answer(pc, offer_sdp, self._ice)

    def _watch(
        self,
        pc: RTCPeerConnection,
        on_lost: Callable[[], Coroutine[Any, Any, None]],
        on_settled: Callable[[], None] | None = None,
        *,
        role: str,
    ) -> None:
        """Call ``on_lost`` once when the peer fails, closes, or never connects;
        ``on_settled`` (idempotent) when it connects, is lost, or its deadline passes.

        A peer that never connected failed its negotiation: that is logged at
        WARNING with the reason, and counted (see :meth:`_negotiation_failed`).
        """
        lost = False
        connected = False

        def settle() -> None:
            if on_settled is not None:
                on_settled()

        def lose(*, failed: bool = False, timed_out: bool = False) -> None:
            nonlocal lost
            settle()
            if lost or self._closed:
                return
            lost = True
            if (failed or timed_out) and not connected:
                note = self._notes.get(pc) or FailureNote()
                self._negotiation_failed(role, failure_reason(pc, note, timed_out=timed_out))
            self._spawn(on_lost())

        @pc.on("connectionstatechange")
        def _changed() -> None:
            nonlocal connected
            if pc.connectionState == "connected":
                connected = True
                settle()
                if role == "publisher":
                    self.publisher_failure = None  # the studio stops showing it
            elif pc.connectionState in ("failed", "closed"):
                lose(failed=pc.connectionState == "failed")

        async def deadline() -> None:
            try:
                await asyncio.sleep(self._connect_timeout_s)
            finally:
                settle()  # also when shutdown cancels the deadline
            if pc.connectionState != "connected":
                lose(timed_out=True)

        task = asyncio.get_running_loop().create_task(deadline())
        self._deadlines.add(task)
        task.add_done_callback(self._deadlines.discard)

    def _negotiation_failed(self, role: str, reason: str) -> None:
        """A publisher or viewer never connected: say why, where operators look."""
        logger.warning("special %s: a %s's connection failed: %s", self.special_id, role, reason)
        self.negotiation_failures[role] += 1
        if role == "publisher":
            self.publisher_failure = {"reason": reason, "at": utcnow().isoformat()}

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
        await asyncio.shield(self._spawn(close_peer(pc)))

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
            "negotiation_failures": dict(self.negotiation_failures),
            "publisher_failure": self.publisher_failure,
            "ingest_frames_dropped": self._ingest_gate.dropped,
            "viewer_frames_dropped": sum(v["dropped"] for v in viewers),
            "viewer_skips": sum(v["skips"] for v in viewers),
            "viewer_details": viewers,
        }
