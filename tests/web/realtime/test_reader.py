"""Reading client frames: masking, fragments, control frames and limits, without a socket."""

from __future__ import annotations

import os
import struct

import pytest

from livemarket.web.realtime.frames import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT
from livemarket.web.realtime.reader import FrameReader, ProtocolViolation, unmask


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes = b"") -> bytes:
    """A frame as a browser sends it: masked with a random key."""
    mask = mask or os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + mask + unmask(mask, payload)


def test_unmask_is_its_own_inverse() -> None:
    payload = "주문할게요 ok".encode() * 7
    mask = b"\x12\x34\x56\x78"
    assert unmask(mask, unmask(mask, payload)) == payload
    assert unmask(mask, b"") == b""
    assert unmask(mask, b"\x00\x00\x00\x00\x00") == b"\x12\x34\x56\x78\x12"


def test_messages_split_anywhere_come_out_whole_and_in_order() -> None:
    long_text = ("딸기 " * 3000).encode()  # 21 KB: a 16-bit length field
    stream = (
        client_frame(OP_TEXT, b'{"type":"ping"}')
        + client_frame(OP_TEXT, long_text)
        + client_frame(OP_BINARY, b"\x00\x01")
    )
    reader = FrameReader(max_size=64 * 1024)
    got: list[tuple[int, bytes]] = []
    for start in range(0, len(stream), 7):  # 7-byte chunks cut headers and masks apart
        got.extend(reader.feed(stream[start : start + 7]))
    assert got == [(OP_TEXT, b'{"type":"ping"}'), (OP_TEXT, long_text), (OP_BINARY, b"\x00\x01")]


def test_fragments_are_joined_and_control_frames_may_come_between() -> None:
    reader = FrameReader(max_size=1024)
    stream = (
        client_frame(OP_TEXT, b"hel", fin=False)
        + client_frame(OP_PING, b"p")
        + client_frame(0x0, b"lo", fin=False)
        + client_frame(0x0, b"!")
        + client_frame(OP_CLOSE, struct.pack("!H", 1000))
    )
    assert reader.feed(stream) == [(OP_PING, b"p"), (OP_TEXT, b"hello!"), (OP_CLOSE, b"\x03\xe8")]


def test_an_oversized_message_is_refused_from_its_header() -> None:
    reader = FrameReader(max_size=1024)
    header = struct.pack("!BBQ", 0x81, 0x80 | 127, 10 * 1024 * 1024) + b"\x00" * 4
    with pytest.raises(ProtocolViolation) as refused:
        reader.feed(header)  # no payload byte has arrived yet
    assert refused.value.code == 1009


def test_fragments_cannot_add_up_past_the_limit() -> None:
    reader = FrameReader(max_size=100)
    assert reader.feed(client_frame(OP_TEXT, b"x" * 60, fin=False)) == []
    with pytest.raises(ProtocolViolation) as refused:
        reader.feed(client_frame(0x0, b"x" * 60))
    assert refused.value.code == 1009


@pytest.mark.parametrize(
    "data",
    [
        struct.pack("!BB", 0x81, 5) + b"hello",  # unmasked
        client_frame(0x3, b"x"),  # reserved opcode
        bytes([0xC1]) + client_frame(OP_TEXT, b"x")[1:],  # RSV1 set: no extension agreed
        client_frame(OP_PING, b"x" * 126),  # control frame too long
        client_frame(OP_PING, b"x", fin=False),  # fragmented control frame
        client_frame(0x0, b"x"),  # continuation of nothing
        client_frame(OP_TEXT, b"a", fin=False) + client_frame(OP_TEXT, b"b"),  # nested
    ],
)
def test_protocol_violations_are_refused_with_1002(data: bytes) -> None:
    with pytest.raises(ProtocolViolation) as refused:
        FrameReader(max_size=1024).feed(data)
    assert refused.value.code == 1002
