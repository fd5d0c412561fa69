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
    offered_kinds,
    pick_publisher_codec,
    same_codec,
    viewer_codec,
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
    with pytest.raises(ValueError, match="High 4:4:4"):
        choose_capability(_h264("f4001f"))  # a profile the relay does not carry
    with pytest.raises(ValueError):
        choose_capability(_h264("640c1f", "0"))  # single-NAL mode is not carried


def test_publisher_codec_keeps_the_viewers_codec_when_offered() -> None:
    """A replacing publisher keeps the current codec when it offers it, else its first."""
    vp8 = default_choice("video")
    assert pick_publisher_codec([_h264("42e01f"), VP8], vp8) == vp8
    chosen = pick_publisher_codec([_h264("42e01f")], vp8)
    assert chosen.mime_type == "video/H264"
    assert [c.mimeType for c in chosen.preferences()] == ["video/H264", "video/rtx"]
    with pytest.raises(ValueError):
        pick_publisher_codec([_h264("f4001f"), _h264("64001f", "0")], vp8)


def test_high_profile_publishers_are_carried() -> None:
    """Chromium's and OBS's High (64001f) and constrained High (640c1f) are accepted.

    Any level of a profile maps to that profile's one entry; the two High variants
    and main stay distinct from each other and from baseline.
    """
    high = pick_publisher_codec([_h264("64001f")], None)
    assert high.codec.parameters["profile-level-id"] == "64001f"
    assert high.codec.parameters["packetization-mode"] == "1"
    assert high.label == "video/H264 (High, profile-level-id 64001f, packetization-mode 1)"
    assert choose_capability(_h264("640028")) == high  # level 4.0, same profile
    constrained = choose_capability(_h264("640c1f"))
    main = choose_capability(_h264("4d001f"))
    baseline = choose_capability(_h264("42e01f"))
    labels = {choice.label for choice in (high, constrained, main, baseline)}
    assert len(labels) == 4
    assert [c.mimeType for c in constrained.preferences()] == ["video/H264", "video/rtx"]


# What Chromium 13x offers for video in a recvonly WHEP offer (trimmed to the codecs).
CHROMIUM_VIEWER_VIDEO = """\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 112 113
a=mid:0
a=recvonly
a=rtcp-mux
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:104 H264/90000
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:105 rtx/90000
a=fmtp:105 apt=104
a=rtpmap:106 H264/90000
a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:107 rtx/90000
a=fmtp:107 apt=106
a=rtpmap:108 H264/90000
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:109 rtx/90000
a=fmtp:109 apt=108
a=rtpmap:127 H264/90000
a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f
a=rtpmap:125 rtx/90000
a=fmtp:125 apt=127
a=rtpmap:39 H264/90000
a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f
a=rtpmap:40 rtx/90000
a=fmtp:40 apt=39
a=rtpmap:112 H264/90000
a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f
a=rtpmap:113 rtx/90000
a=fmtp:113 apt=112
"""
SESSION = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def _offer(video: str) -> str:
    return SESSION + video.replace("\n", "\r\n")


def test_viewer_offers_are_matched_to_the_publishers_exact_profile() -> None:
    """A Chromium viewer offering High gets High; constrained High it does not offer is refused."""
    video = offered_kinds(_offer(CHROMIUM_VIEWER_VIDEO))["video"]
    high = choose_capability(_h264("64001f"))
    assert offer_accepts(video, high)
    # the payload type aiortc will answer with is the viewer's own High entry, not another
    matching = [c for c in video if same_codec(c, high.codec)]
    assert [(c.payloadType, c.parameters["profile-level-id"]) for c in matching] == [
        (112, "64001f")
    ]
    assert not offer_accepts(video, choose_capability(_h264("640c1f")))
    baseline_only = CHROMIUM_VIEWER_VIDEO.split("a=rtpmap:127")[0]
    assert not offer_accepts(offered_kinds(_offer(baseline_only))["video"], high)


def test_a_viewer_without_the_streams_profile_gets_its_best_h264_profile() -> None:
    """High stream, viewer offering up to Main (Debian's Chromium): answered Main, mode 1.

    The stream is forwarded as is; only a viewer with no H.264 in the stream's
    packetization-mode (or another codec altogether) is refused.
    """
    high = choose_capability(_h264("64001f"))
    up_to_main = offered_kinds(_offer(CHROMIUM_VIEWER_VIDEO.split("a=rtpmap:112")[0]))["video"]
    main = viewer_codec(up_to_main, high)
    assert main.codec.parameters["profile-level-id"] == "4d001f"
    assert main.codec.parameters["packetization-mode"] == "1"
    baseline_only = CHROMIUM_VIEWER_VIDEO.split("a=rtpmap:127")[0]
    chosen = viewer_codec(offered_kinds(_offer(baseline_only))["video"], high)
    assert (
        chosen.codec.parameters["profile-level-id"] == "42e01f"
    )  # constrained over plain baseline
    assert viewer_codec(offered_kinds(_offer(CHROMIUM_VIEWER_VIDEO))["video"], high) == high
    with pytest.raises(ValueError):
        viewer_codec([VP8], high)
    with pytest.raises(ValueError):
        viewer_codec([_h264("64001f", "0"), _h264("42e01f", "0")], high)
    with pytest.raises(ValueError):
        viewer_codec([_h264("42e01f")], default_choice("video"))  # VP8 stream
