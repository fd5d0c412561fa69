"""Fragmented MP4 (CMAF) boxes, with no I/O: the init segment and one fragment per part.

Just the boxes LL-HLS players (hls.js over MSE, Safari, ffmpeg) need
(ISO/IEC 14496-12): an init segment ``ftyp`` + ``moov`` whose ``mvex``/``trex``
announce fragments, with an ``avc1`` (avcC) video track and optionally an
``Opus`` (dOps) audio track; then fragments ``moof`` + ``mdat`` whose track runs
point into the ``mdat`` relative to the ``moof`` (default-base-is-moof), each
track fragment starting at an explicit decode time (``tfdt``) so gaps and
late audio never shift the timeline.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from livemarket.streamer.hls.h264 import avc_decoder_configuration, parse_sps
from livemarket.streamer.hls.opus import SAMPLE_RATE, dops

VIDEO_TRACK_ID = 1
AUDIO_TRACK_ID = 2
VIDEO_TIMESCALE = 90000
AUDIO_TIMESCALE = SAMPLE_RATE

#: sample_flags (§8.8.3.1): a sync sample depends on nothing; others depend and are non-sync.
SYNC_FLAGS = 0x02000000
NON_SYNC_FLAGS = 0x01010000

_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400  # offset, durations, sizes, flags
_TFHD_DEFAULT_BASE_IS_MOOF = 0x020000


def box(kind: bytes, *payload: bytes) -> bytes:
    """One box: 32-bit size, 4-character type, payload."""
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A FullBox: a box whose payload starts with version (8 bits) and flags (24 bits)."""
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


@dataclass(frozen=True)
class Sample:
    """One sample of a track fragment: its bytes (MP4 form), duration in track ticks."""

    data: bytes
    duration: int
    sync: bool = True


@dataclass(frozen=True)
class TrackFragment:
    """A track's samples in one fragment, the first decoded at ``decode_time`` ticks."""

    track_id: int
    decode_time: int
    samples: Sequence[Sample]


def _ftyp() -> bytes:
    return box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6cmfcmp41")


def _mvhd(next_track_id: int) -> bytes:
    return full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIIIIH", 0, 0, 1000, 0, 0x00010000, 0x0100),
        bytes(10),
        _MATRIX,
        bytes(24),
        struct.pack(">I", next_track_id),
    )


def _tkhd(track_id: int, width: int, height: int, audio: bool) -> bytes:
    return full_box(
        b"tkhd",
        0,
        0x000003,  # enabled, in movie
        struct.pack(">IIIII", 0, 0, track_id, 0, 0),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0x0100 if audio else 0, 0),
        _MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )


def _mdia(timescale: int, handler: bytes, name: bytes, media_header: bytes, entry: bytes) -> bytes:
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, 0x55C4, 0))
    hdlr = full_box(b"hdlr", 0, 0, struct.pack(">I", 0), handler, bytes(12), name + b"\x00")
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    empty = struct.pack(">I", 0)
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry),
        full_box(b"stts", 0, 0, empty),
        full_box(b"stsc", 0, 0, empty),
        full_box(b"stsz", 0, 0, empty, empty),
        full_box(b"stco", 0, 0, empty),
    )
    return box(b"mdia", mdhd, hdlr, box(b"minf", media_header, dinf, stbl))


def _avc1(sps: bytes, pps: bytes, width: int, height: int) -> bytes:
    return box(
        b"avc1",
        bytes(6),
        struct.pack(">H", 1),  # data_reference_index
        bytes(16),
        struct.pack(">HHIIIH", width, height, 0x00480000, 0x00480000, 0, 1),
        bytes(32),  # compressorname
        struct.pack(">Hh", 0x0018, -1),
        box(b"avcC", avc_decoder_configuration(sps, pps)),
    )


def _opus_entry(channels: int) -> bytes:
    return box(
        b"Opus",
        bytes(6),
        struct.pack(">H", 1),
        bytes(8),
        struct.pack(">HHHHI", channels, 16, 0, 0, SAMPLE_RATE << 16),
        box(b"dOps", dops(channels)),
    )


def _trex(track_id: int) -> bytes:
    return full_box(b"trex", 0, 0, struct.pack(">IIIII", track_id, 1, 0, 0, 0))


def init_segment(sps: bytes, pps: bytes, *, audio_channels: int | None = 2) -> bytes:
    """``ftyp`` + ``moov``: H.264 video (track 1), and Opus (track 2) unless channels is None."""
    info = parse_sps(sps)
    video = box(
        b"trak",
        _tkhd(VIDEO_TRACK_ID, info.width, info.height, audio=False),
        _mdia(
            VIDEO_TIMESCALE,
            b"vide",
            b"LiveMarket video",
            full_box(b"vmhd", 0, 1, bytes(8)),
            _avc1(sps, pps, info.width, info.height),
        ),
    )
    traks = [video]
    trexes = [_trex(VIDEO_TRACK_ID)]
    if audio_channels is not None:
        traks.append(
            box(
                b"trak",
                _tkhd(AUDIO_TRACK_ID, 0, 0, audio=True),
                _mdia(
                    AUDIO_TIMESCALE,
                    b"soun",
                    b"LiveMarket audio",
                    full_box(b"smhd", 0, 0, bytes(4)),
                    _opus_entry(audio_channels),
                ),
            )
        )
        trexes.append(_trex(AUDIO_TRACK_ID))
    moov = box(b"moov", _mvhd(len(traks) + 1), *traks, box(b"mvex", *trexes))
    return _ftyp() + moov


def fragment(sequence_number: int, tracks: Sequence[TrackFragment]) -> bytes:
    """``moof`` + ``mdat`` for one part; tracks with no samples are left out."""
    tracks = [track for track in tracks if track.samples]
    if not tracks:
        raise ValueError("a fragment needs at least one sample")
    # traf = traf header + tfhd (16) + tfdt v1 (20) + trun (20 + 12 per sample)
    moof_size = 8 + 16 + sum(8 + 16 + 20 + 20 + 12 * len(t.samples) for t in tracks)
    offset = moof_size + 8  # the first sample follows the mdat header
    trafs = []
    payload: list[bytes] = []
    for track in tracks:
        fields: list[int] = []
        for sample in track.samples:
            fields += (
                sample.duration,
                len(sample.data),
                SYNC_FLAGS if sample.sync else NON_SYNC_FLAGS,
            )
            payload.append(sample.data)
        count = len(track.samples)
        trun = full_box(
            b"trun",
            0,
            _TRUN_FLAGS,
            struct.pack(f">Ii{3 * count}I", count, offset, *fields),
        )
        offset += sum(fields[1::3])
        trafs.append(
            box(
                b"traf",
                full_box(b"tfhd", 0, _TFHD_DEFAULT_BASE_IS_MOOF, struct.pack(">I", track.track_id)),
                full_box(b"tfdt", 1, 0, struct.pack(">Q", track.decode_time)),
                trun,
            )
        )
    moof = box(b"moof", full_box(b"mfhd", 0, 0, struct.pack(">I", sequence_number)), *trafs)
    assert len(moof) == moof_size
    data = b"".join(payload)
    return moof + struct.pack(">I", 8 + len(data)) + b"mdat" + data
