"""Keyframe detection and codec matching, without a network."""

from __future__ import annotations

import fractions

import av
import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from livemarket.streamer.codecs import (
    choose_capability,
    default_choice,
    h264_nal_types,
    is_h264_keyframe,
    is_keyframe,
    is_vp8_keyframe,
    offer_accepts,
    pick_publisher_codec,
    same_codec,
    vp8_dimensions,
)


def _encode(codec: str, count: int) -> list[bytes]:
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = 64, 48, "yuv420p"
    context.time_base = fractions.Fraction(1, 30)
    context.gop_size = 10
    packets = []
    for index in range(count):
        frame = av.VideoFrame(64, 48, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([index * 9 % 256]) * plane.buffer_size)
        frame.pts = index
        packets += [bytes(p) for p in context.encode(frame)]
    packets += [bytes(p) for p in context.encode(None)]
    return packets


def test_vp8_keyframes_are_found_in_real_encoder_output() -> None:
    """Frames 0 and 10 of a VP8 stream with a 10-frame GOP are keyframes, the rest not."""
    frames = _encode("libvpx", 15)
    flags = [is_vp8_keyframe(frame) for frame in frames]
    assert flags[0] and flags[10]
    assert sum(flags) == 2
    assert vp8_dimensions(frames[0]) == (64, 48)
    with pytest.raises(ValueError):
        vp8_dimensions(frames[1])


def test_h264_idr_access_units_are_keyframes() -> None:
    """An IDR access unit (with SPS/PPS) is a keyframe; P slices are not."""
    frames = _encode("libx264", 12)
    assert 5 in h264_nal_types(frames[0]) and 7 in h264_nal_types(frames[0])
    assert is_h264_keyframe(frames[0])
    assert not is_h264_keyframe(frames[1])
    assert is_keyframe("video/H264", frames[0])


def test_short_or_garbage_frames_are_not_keyframes() -> None:
    """Truncated data never passes for a keyframe; audio is always a start point."""
    assert not is_vp8_keyframe(b"\x00\x00\x00")
    assert not is_h264_keyframe(b"\x00\x00\x01")
    assert is_keyframe("audio/opus", b"\x01")


def _h264(profile: str, mode: str = "1") -> RTCRtpCodecParameters:
    return RTCRtpCodecParameters(
        mimeType="video/H264",
        clockRate=90000,
        payloadType=102,
        parameters={"profile-level-id": profile, "packetization-mode": mode},
    )


VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


def test_h264_matches_only_same_profile_and_mode() -> None:
    """H.264 is interchangeable only with the same profile-level-id and packetization-mode."""
    assert same_codec(_h264("42e01f"), _h264("42E01F"))
    assert not same_codec(_h264("42e01f"), _h264("42001f"))
    assert not same_codec(_h264("42e01f", "1"), _h264("42e01f", "0"))
    assert not same_codec(_h264("42e01f"), VP8)


def test_viewer_must_offer_the_streams_codec() -> None:
    """A viewer offer is accepted only when it includes the stream's exact codec."""
    h264 = choose_capability(_h264("42e01f"))
    assert offer_accepts([VP8, _h264("42e01f")], h264)
    assert not offer_accepts([VP8, _h264("42001f")], h264)
    assert not offer_accepts([VP8], h264)
    with pytest.raises(ValueError):
        choose_capability(_h264("640032"))  # High profile: aiortc cannot carry it


def test_publisher_codec_keeps_the_viewers_codec_when_offered() -> None:
    """A replacing publisher keeps the current codec when it offers it, else its first."""
    vp8 = default_choice("video")
    assert pick_publisher_codec([_h264("42e01f"), VP8], vp8) == vp8
    chosen = pick_publisher_codec([_h264("42e01f")], vp8)
    assert chosen.mime_type == "video/H264"
    assert [c.mimeType for c in chosen.preferences()] == ["video/H264", "video/rtx"]
    with pytest.raises(ValueError):
        pick_publisher_codec([_h264("640032")], vp8)
