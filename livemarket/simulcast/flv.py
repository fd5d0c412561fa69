"""Just enough FLV reading to fan one stream out to several pushers (no I/O).

The encoder writes one FLV stream; each destination's pusher must start with
the FLV header, the metadata and codec configuration tags, and then media from
a video keyframe. :class:`FlvSplitter` cuts the byte stream into tags and
remembers that preamble, so a pusher (re)started mid-show gets a valid stream.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_BYTES = 9 + 4  # the FLV header and the first PreviousTagSize
TAG_HEADER_BYTES = 11
AUDIO, VIDEO, SCRIPT = 8, 9, 18


@dataclass(frozen=True)
class Tag:
    """One FLV tag, with its trailing PreviousTagSize (the exact bytes to forward)."""

    kind: int
    timestamp_ms: int
    raw: bytes

    @property
    def is_config(self) -> bool:
        """AVC/AAC sequence header, or metadata: needed once by every new pusher."""
        if self.kind == SCRIPT:
            return True
        body = self.raw[TAG_HEADER_BYTES:]
        if self.kind == VIDEO:
            return len(body) > 1 and body[0] & 0x0F == 7 and body[1] == 0
        if self.kind == AUDIO:
            return len(body) > 1 and body[0] >> 4 == 10 and body[1] == 0
        return False

    @property
    def is_keyframe(self) -> bool:
        """A key picture (not the AVC sequence header, which carries the key flag too)."""
        body = self.raw[TAG_HEADER_BYTES:]
        return self.kind == VIDEO and len(body) > 1 and body[0] >> 4 == 1 and body[1] == 1


class FlvSplitter:
    """Feed bytes, get whole tags; ``preamble`` is what a new pusher needs first."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.header: bytes | None = None
        self._config: dict[tuple[int, int], Tag] = {}

    def feed(self, data: bytes) -> list[Tag]:
        self._buffer += data
        tags: list[Tag] = []
        if self.header is None:
            if len(self._buffer) < HEADER_BYTES:
                return tags
            if bytes(self._buffer[:3]) != b"FLV":
                raise ValueError("not an FLV stream")
            self.header = bytes(self._buffer[:HEADER_BYTES])
            del self._buffer[:HEADER_BYTES]
        while len(self._buffer) >= TAG_HEADER_BYTES:
            size = int.from_bytes(self._buffer[1:4], "big")
            total = TAG_HEADER_BYTES + size + 4
            if len(self._buffer) < total:
                break
            head = self._buffer[:TAG_HEADER_BYTES]
            stamp = int.from_bytes(head[4:7], "big") | (head[7] << 24)
            tag = Tag(head[0] & 0x1F, stamp, bytes(self._buffer[:total]))
            del self._buffer[:total]
            if tag.is_config:
                self._config[(tag.kind, 0)] = tag
            tags.append(tag)
        return tags

    @property
    def preamble(self) -> bytes:
        """FLV header + latest metadata and sequence headers (empty until the header came)."""
        if self.header is None:
            return b""
        return self.header + b"".join(tag.raw for tag in self._config.values())


def tag_bytes(kind: int, timestamp_ms: int, body: bytes) -> bytes:
    """Build one tag (for tests and the test card): header, body, PreviousTagSize."""
    head = struct.pack(">B", kind) + len(body).to_bytes(3, "big")
    head += (timestamp_ms & 0xFFFFFF).to_bytes(3, "big") + bytes([timestamp_ms >> 24 & 0xFF])
    head += b"\x00\x00\x00"
    return head + body + struct.pack(">I", TAG_HEADER_BYTES + len(body))
