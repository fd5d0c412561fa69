"""A viewer's RTP, sent by the relay itself: shared payloads, per-viewer headers.

Why not aiortc's own sender loop: it packetizes every frame again for every
viewer and sends each packet through four coroutine layers (sender, DTLS
transport, ICE transport, aioice protocol). Here the relay packetizes a frame
once (:mod:`packetizer`); for each viewer only the RTP header differs (its
SSRC, sequence number, timestamp origin, marker, header extensions), and each
datagram is SRTP-protected with the viewer's session, and the frame's
datagrams are written together, without an ``await``, to the socket of the
viewer's nominated ICE candidate pair (:mod:`udpsend`).

The viewer's ``RTCRtpSender`` stays in place for everything else: it
negotiates, sends RTCP sender reports (fed from this module's counters) and
reads the viewer's RTCP; its NACKs are answered from this output's history of
recent frames (as RTX when negotiated), PLI/FIR go to the relay's throttle.
Its own RTP loop idles on a :class:`~.tracks.HeldTrack` that never yields a
frame.

Private aiortc 1.16 names used (pinned; ``tests/streamer/test_ingest_hook.py``
checks them): the sender's ``_ssrc``, ``_rtx_ssrc``, ``_retransmit``,
``_send_keyframe`` and its SR counters; the DTLS transport's ``_state`` and
``_tx_srtp``; the ICE transport's ``_connection`` and aioice's ``_nominated``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from struct import Struct
from typing import Any

from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import State
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpsender import RTCRtpSender, random_sequence_number
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket, wrap_rtx
from aiortc.utils import random32

from livemarket.streamer.forwarding import KeyframeGate
from livemarket.streamer.gop import CachedFrame
from livemarket.streamer.udpsend import DatagramSocket

#: Frames kept per viewer to answer NACKs (about two seconds of video).
HISTORY_FRAMES = 64

_Link = tuple[Callable[[bytes], bytes], DatagramSocket, Any]

_FIRST = Struct("!BBH")
_REST = Struct("!LL")
_EXT_HEADER = Struct("!HH")

# The sender's RTCP sender-report counters (name-mangled private attributes).
_SR_NTP = "_RTCRtpSender__ntp_timestamp"
_SR_RTP = "_RTCRtpSender__rtp_timestamp"
_SR_OCTETS = "_RTCRtpSender__octet_count"
_SR_PACKETS = "_RTCRtpSender__packet_count"


class _Negotiated:
    """What the viewer's answer fixed: payload types, header extensions, mid."""

    def __init__(self, parameters: RTCRtpSendParameters) -> None:
        codec = parameters.codecs[0]
        if codec.payloadType is None:
            raise ValueError("the negotiated codec has no payload type")
        self.payload_type: int = codec.payloadType
        self.rtx_payload_type = next(
            (
                c.payloadType
                for c in parameters.codecs
                if is_rtx(c) and c.parameters.get("apt") == codec.payloadType
            ),
            None,
        )
        self.mid = parameters.muxId
        self.extensions = HeaderExtensionsMap()
        self.extensions.configure(parameters)

    def extension_bytes(self, abs_send_time: int) -> bytes:
        """The header-extension block of a packet sent now ("" when none apply)."""
        profile, value = self.extensions.set(
            HeaderExtensions(mid=self.mid, abs_send_time=abs_send_time)
        )
        return _EXT_HEADER.pack(profile, len(value) >> 2) + value if value else b""


class ViewerOutput:
    """One viewer's outgoing RTP stream of one kind, driven by the relay."""

    def __init__(
        self,
        sender: RTCRtpSender,
        on_keyframe_request: Callable[[], None],
        on_ready: Callable[[ViewerOutput], None] | None = None,
    ) -> None:
        """``on_ready`` is called once the viewer can receive (DTLS up, sender started)."""
        self.kind = sender.kind
        self.gate = KeyframeGate(gated=sender.kind == "video")
        self._sender = sender
        self._negotiated: _Negotiated | None = None
        self._sequence = random_sequence_number()
        self._rtx_sequence = random_sequence_number()
        self._timestamp_origin = random32()
        self._history: deque[tuple[int, int, Sequence[bytes]]] = deque(maxlen=HISTORY_FRAMES)
        self._packets = 0
        self._octets = 0
        self._socket: DatagramSocket | None = None
        self._closed = False
        start = sender.send

        async def send(parameters: RTCRtpSendParameters) -> None:
            self._negotiated = _Negotiated(parameters)
            await start(parameters)
            if on_ready is not None:
                on_ready(self)

        # The sender keeps negotiating and reading RTCP; its frame path is ours.
        sender.send = send  # type: ignore[method-assign]
        sender._retransmit = self._retransmit  # type: ignore[method-assign]
        sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]

    def _link(self) -> _Link | None:
        """SRTP protect function, socket and address, once DTLS and ICE are up."""
        dtls = self._sender.transport
        if self._closed or dtls._state is not State.CONNECTED:
            return None
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            return None
        sock = self._socket
        if sock is None or sock.source is not pair.protocol.transport:
            if sock is not None:
                sock.close()  # ICE moved to another candidate pair
            sock = self._socket = DatagramSocket(pair.protocol.transport)
        return dtls._tx_srtp.protect, sock, pair.remote_addr

    def close(self) -> None:
        """Release the socket duplicate (the viewer left); nothing is sent after this."""
        self._closed = True
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def offer(self, payloads: list[bytes], timestamp: int, ntp_time: int, keyframe: bool) -> bool:
        """Send a packetized frame if the viewer can use it; True when it needs a keyframe.

        ``timestamp`` is on the relay's timeline. A viewer not connected yet gets
        nothing and asks for nothing; one whose socket backs up loses the frame
        and waits for a keyframe.
        """
        negotiated, link = self._negotiated, self._link()
        if negotiated is None or link is None:
            return False
        if not self.gate.admit(keyframe=keyframe):
            return self.gate.waiting_for_keyframe
        if self._send(negotiated, link, payloads, timestamp, ntp_time):
            return False
        self.gate.break_chain()
        return True

    @property
    def fresh(self) -> bool:
        """Nothing sent yet, waiting for a keyframe: a cached GOP may start this viewer."""
        return self._packets == 0 and self.gate.waiting_for_keyframe and not self._closed

    def start_from(self, frames: Sequence[CachedFrame], ntp_time: int) -> bool:
        """Start a fresh viewer with the cached GOP (keyframe first); True when it runs now.

        Only a viewer that has received nothing: the cached frames are older than
        any live frame it would have had. Their relay timestamps are kept, so the
        live frames that follow continue the same chain and timeline. False when
        the viewer cannot receive yet, there is no GOP, or the burst did not fit
        in the socket (then its gate waits for a keyframe, as after any loss).
        """
        if not frames or not self.fresh:
            return False
        negotiated, link = self._negotiated, self._link()
        if negotiated is None or link is None:
            return False
        for frame in frames:
            if not self.gate.admit(keyframe=frame.keyframe):
                return False
            if not self._send(negotiated, link, frame.payloads, frame.timestamp, ntp_time):
                self.gate.break_chain()
                return False
        return True

    def _send(
        self,
        negotiated: _Negotiated,
        link: _Link,
        payloads: Sequence[bytes],
        timestamp: int,
        ntp_time: int,
    ) -> bool:
        protect, sock, address = link
        rtp_timestamp = (self._timestamp_origin + timestamp) & 0xFFFFFFFF
        extensions = negotiated.extension_bytes((ntp_time >> 14) & 0xFFFFFF)
        first_byte = 0x90 if extensions else 0x80
        rest = _REST.pack(rtp_timestamp, self._sender._ssrc) + extensions
        payload_type = negotiated.payload_type
        pack_first = _FIRST.pack
        sequence = self._sequence
        self._history.append((sequence, rtp_timestamp, payloads))
        last = len(payloads) - 1
        octets = 0
        datagrams = []
        for index, payload in enumerate(payloads):
            marker = 0x80 if index == last else 0
            head = pack_first(first_byte, marker | payload_type, sequence)
            datagrams.append(protect(head + rest + payload))
            octets += len(payload)
            sequence = (sequence + 1) & 0xFFFF
        # The sequence numbers are spent even if the send fails: the viewer's
        # receiver sees the loss, and the gate restarts the chain at a keyframe.
        self._sequence = sequence
        sent = sock.send(datagrams, address)
        self._packets += len(payloads)
        self._octets += octets
        sender = self._sender
        setattr(sender, _SR_NTP, ntp_time)
        setattr(sender, _SR_RTP, rtp_timestamp)
        setattr(sender, _SR_PACKETS, self._packets)
        setattr(sender, _SR_OCTETS, self._octets)
        return sent

    def _find(self, sequence_number: int) -> tuple[int, Sequence[bytes], int] | None:
        """(RTP timestamp, payloads, index) of a recently sent packet."""
        for first, timestamp, payloads in reversed(self._history):
            index = (sequence_number - first) & 0xFFFF
            if index < len(payloads):
                return timestamp, payloads, index
        return None

    async def _retransmit(self, sequence_number: int) -> None:
        """Answer a NACK from the recent frames (RTX when negotiated, as aiortc does)."""
        negotiated, link = self._negotiated, self._link()
        if negotiated is None or link is None:
            return
        found = self._find(sequence_number)
        if found is None:
            return
        timestamp, payloads, index = found
        packet = RtpPacket(
            payload_type=negotiated.payload_type,
            marker=1 if index == len(payloads) - 1 else 0,
            sequence_number=sequence_number,
            timestamp=timestamp,
            ssrc=self._sender._ssrc,
            payload=payloads[index],
        )
        packet.extensions.mid = negotiated.mid
        if negotiated.rtx_payload_type is not None:
            packet = wrap_rtx(
                packet,
                payload_type=negotiated.rtx_payload_type,
                sequence_number=self._rtx_sequence,
                ssrc=self._sender._rtx_ssrc,
            )
            self._rtx_sequence = (self._rtx_sequence + 1) & 0xFFFF
        protect, sock, address = link
        sock.send([protect(packet.serialize(negotiated.extensions))], address)
