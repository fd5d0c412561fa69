"""A socket's incoming side, bytes in and frames out (as websockets' tests/test_protocol.py)."""

from __future__ import annotations

import struct
import time

import pytest
from websockets.frames import Frame, Opcode

from livemarket.realtime.protocol import FrameBudget
from livemarket.realtime.reader import MAX_FRAGMENTS, FrameReader
from tests.web.realtime.conftest import masked_frame as client_frame

TEXT, BINARY, CONT, CLOSE, PING, PONG = (
    Opcode.TEXT,
    Opcode.BINARY,
    Opcode.CONT,
    Opcode.CLOSE,
    Opcode.PING,
    Opcode.PONG,
)


def server_frames(writes: list[bytes]) -> list[tuple[int, bytes]]:
    """``(opcode, payload)`` of each unmasked, final frame the server wrote."""
    out: list[tuple[int, bytes]] = []
    data = b"".join(writes)
    while data:
        assert data[0] & 0xF0 == 0x80, "server frames are final, no reserved bits"
        assert not data[1] & 0x80, "server frames are unmasked"
        length, head = data[1], 2
        if length == 126:
            length, head = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            length, head = struct.unpack("!Q", data[2:10])[0], 10
        out.append((data[0] & 0x0F, data[head : head + length]))
        data = data[head + length :]
    return out


def close_code(writes: list[bytes]) -> int:
    """The code of the one close frame written (the last frame)."""
    frames = server_frames(writes)
    assert frames and frames[-1][0] == CLOSE, frames
    return int(struct.unpack("!H", frames[-1][1][:2])[0])


def test_messages_split_anywhere_come_out_whole_and_in_order() -> None:
    long_text = ("딸기 " * 3000).encode()  # 21 KB: a 16-bit length field
    stream = (
        client_frame(TEXT, b'{"type":"ping"}')
        + client_frame(TEXT, long_text)
        + client_frame(BINARY, b"\x00\x01")
    )
    reader = FrameReader(max_size=64 * 1024)
    got = []
    for start in range(0, len(stream), 7):  # 7-byte chunks cut headers and masks apart
        got.extend(reader.feed(stream[start : start + 7]))
    assert got == [
        (TEXT, b'{"type":"ping"}', "ok"),
        (TEXT, long_text, "ok"),
        (BINARY, b"\x00\x01", "ok"),
    ]
    assert reader.data_to_send() == []
    assert not reader.closing


def test_fragments_are_joined_pings_answered_and_a_close_echoed() -> None:
    reader = FrameReader(max_size=1024)
    stream = (
        client_frame(TEXT, b"hel", fin=False)
        + client_frame(PING, b"p")
        + client_frame(CONT, b"lo", fin=False)
        + client_frame(CONT, b"!")
        + client_frame(CLOSE, struct.pack("!H", 1001) + b"bye")
        + client_frame(TEXT, b"after the close")
    )
    assert reader.feed(stream) == [(TEXT, b"hello!", "ok")]
    assert server_frames(reader.data_to_send()) == [
        (PONG, b"p"),
        (CLOSE, struct.pack("!H", 1001) + b"bye"),
    ]
    assert reader.closing and reader.peer_closed
    assert reader.feed(client_frame(TEXT, b"more")) == []


def test_an_oversized_message_is_refused_from_its_header() -> None:
    reader = FrameReader(max_size=1024)
    header = struct.pack("!BBQ", 0x81, 0x80 | 127, 10 * 1024 * 1024) + b"\x00" * 4
    assert reader.feed(header) == []  # no payload byte has arrived yet
    assert close_code(reader.data_to_send()) == 1009
    assert reader.closing and not reader.peer_closed


def test_fragments_cannot_add_up_past_the_size_limit() -> None:
    reader = FrameReader(max_size=100)
    assert reader.feed(client_frame(TEXT, b"x" * 60, fin=False)) == []
    assert reader.feed(client_frame(CONT, b"x" * 60)) == []
    assert close_code(reader.data_to_send()) == 1009


def test_empty_continuation_frames_are_bounded_in_number_and_cost() -> None:
    """A text frame then 40,000 empty continuations (240 KB): closed 1008 after
    ``MAX_FRAGMENTS``, and the rest costs no parsing (the old reader took seconds)."""
    stream = client_frame(TEXT, b"{", fin=False) + client_frame(CONT, b"", fin=False) * 40_000
    reader = FrameReader(max_size=64 * 1024)
    started = time.perf_counter()
    assert reader.feed(stream) == []
    assert time.perf_counter() - started < 0.05
    assert close_code(reader.data_to_send()) == 1008
    assert reader.closing and not reader.peer_closed


def test_fragments_and_pings_are_charged_to_the_flood_budget() -> None:
    """Each data frame and each ping takes a token: a slow fragment flood is refused
    as a message, a fast one (or a ping flood) floods and stops the parsing at once."""
    reader = FrameReader(max_size=64 * 1024, budget=FrameBudget(rate=10, burst=3))
    message = client_frame(TEXT, b"a", fin=False) + client_frame(CONT, b"b", fin=False)
    assert reader.feed(message + client_frame(CONT, b"c"), now=0.0) == [(TEXT, b"abc", "ok")]
    assert reader.feed(client_frame(TEXT, b"d"), now=0.0) == [(TEXT, b"d", "refuse")]
    assert not reader.flooded
    pings = FrameReader(max_size=1024, budget=FrameBudget(rate=10, burst=30))
    assert pings.feed(client_frame(PING, b"") * 40_000, now=0.0) == []
    assert pings.flooded
    assert len(server_frames(pings.data_to_send())) < 1000  # one slice's pongs at most


def test_no_budget_for_staff_but_fragments_stay_bounded() -> None:
    reader = FrameReader(max_size=64 * 1024)
    fragments = [client_frame(CONT, b"x", fin=False)] * (MAX_FRAGMENTS - 2)
    stream = client_frame(TEXT, b"x", fin=False) + b"".join(fragments) + client_frame(CONT, b"")
    assert reader.feed(stream) == [(TEXT, b"x" * (MAX_FRAGMENTS - 1), "ok")]
    assert reader.data_to_send() == []


@pytest.mark.parametrize(
    "data",
    [
        struct.pack("!BB", 0x81, 5) + b"hello",  # unmasked
        client_frame(0x3, b"x"),  # reserved opcode
        client_frame(TEXT, b"x", rsv=0x40),  # RSV1 set: no extension agreed
        client_frame(PING, b"x" * 126),  # control frame too long
        client_frame(PING, b"x", fin=False),  # fragmented control frame
        client_frame(CONT, b"x"),  # continuation of nothing
        client_frame(TEXT, b"a", fin=False) + client_frame(TEXT, b"b"),  # nested
    ],
)
def test_protocol_violations_are_answered_1002(data: bytes) -> None:
    reader = FrameReader(max_size=1024)
    assert reader.feed(data) == []
    assert close_code(reader.data_to_send()) == 1002
    assert reader.closing and not reader.peer_closed


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000])
def test_close_codes_no_endpoint_may_send_are_answered_1002(code: int) -> None:
    """RFC 6455 §7.4: reserved and unassigned codes are a protocol error (Autobahn 7.9.x)."""
    reader = FrameReader(max_size=1024)
    reader.feed(client_frame(CLOSE, struct.pack("!H", code)))
    assert close_code(reader.data_to_send()) == 1002
    assert not reader.peer_closed


def test_a_one_byte_close_payload_is_answered_1002() -> None:
    """Autobahn 7.3.2."""
    reader = FrameReader(max_size=1024)
    reader.feed(client_frame(CLOSE, b"\x03"))
    assert close_code(reader.data_to_send()) == 1002


def test_a_close_reason_that_is_not_utf8_is_answered_1007() -> None:
    """Autobahn 7.5.1."""
    reader = FrameReader(max_size=1024)
    reader.feed(client_frame(CLOSE, struct.pack("!H", 1000) + b"\xce\xba\xe1\xbd\xb9\xed\xa0\x80"))
    assert close_code(reader.data_to_send()) == 1007


@pytest.mark.parametrize("payload", [b"", struct.pack("!H", 1000), struct.pack("!H", 3000) + b"ok"])
def test_valid_closes_are_echoed(payload: bytes) -> None:
    """An empty close, 1000 and registered or private codes come back as sent (7.1.x, 7.7.x)."""
    reader = FrameReader(max_size=1024)
    reader.feed(client_frame(CLOSE, payload))
    assert server_frames(reader.data_to_send()) == [(CLOSE, payload)]
    assert reader.peer_closed


@pytest.mark.parametrize("payload", [b"", struct.pack("!H", 1000), struct.pack("!H", 4001) + b"x"])
def test_a_close_between_fragments_is_echoed_and_the_message_dropped(payload: bytes) -> None:
    """Control frames may come between fragments, a close too (Autobahn 7.1.5)."""
    reader = FrameReader(max_size=1024)
    stream = (
        client_frame(TEXT, b"frag", fin=False)
        + client_frame(PING, b"still here")
        + client_frame(CLOSE, payload)
    )
    assert reader.feed(stream + client_frame(CONT, b"ment")) == []
    assert server_frames(reader.data_to_send()) == [(PONG, b"still here"), (CLOSE, payload)]
    assert reader.closing and reader.peer_closed


def test_an_idle_reader_holds_no_protocol_object() -> None:
    """Between whole frames the ~1.9 KB protocol is dropped; mid-frame or mid-message it stays."""
    reader = FrameReader(max_size=1024)
    frame = client_frame(TEXT, b"hello")
    reader.feed(frame[:3])
    assert reader._protocol is not None
    reader.feed(frame[3:] + client_frame(TEXT, b"a", fin=False))
    assert reader._protocol is not None
    reader.feed(client_frame(CONT, b"b"))
    assert reader._protocol is None


def test_server_frames_are_websockets_frames() -> None:
    """Our frame bytes are what websockets itself serializes for a server."""
    from livemarket.realtime.frames import close_frame, text_frame

    assert text_frame("주문") == Frame(Opcode.TEXT, "주문".encode()).serialize(mask=False)
    long_reason = "가" * 60  # 180 bytes: cut to whole characters within 123
    ((opcode, payload),) = server_frames([close_frame(1008, long_reason)])
    assert opcode == CLOSE and len(payload) <= 125
    payload[2:].decode()  # still UTF-8
