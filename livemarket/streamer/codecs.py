"""Codec facts the relay needs: keyframe detection and codec matching, with no I/O.

The relay forwards the publisher's encoded frames untouched, so a viewer must
negotiate *exactly* the publisher's codec (aiortc's sender packetizes for the
first negotiated codec), and must start at a keyframe. Frames here are what
aiortc's depayloaders produce: a bare VP8 frame, an Annex B H.264 access unit,
or an Opus packet.

H.264 codecs match as aiortc's own negotiation matches them: same profile
(constrained baseline, baseline, main, high, constrained high) and same
packetization-mode; the level is not compared (each side states the level it
receives, ``level-asymmetry-allowed``, and the relay never decodes).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import RTCRtpReceiver
from aiortc.codecs import CODECS
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.sdp import H264Profile, SessionDescription, parse_h264_profile_level_id

#: Media kinds the relay carries.
KINDS = ("audio", "video")
#: The codec a relay offers viewers before any publisher has connected.
DEFAULT_VIDEO_MIME = "video/VP8"

#: H.264 profiles carried besides aiortc's own baseline and constrained baseline
#: (42001f, 42e01f): main, high and constrained high, which Chromium, Safari and
#: encoders such as OBS offer. One entry per profile, since matching ignores the level.
EXTRA_H264_PROFILES = ("4d001f", "64001f", "640c1f")
#: Readable names of the H.264 profiles, for messages.
H264_PROFILE_NAMES = {
    H264Profile.PROFILE_CONSTRAINED_BASELINE: "Constrained Baseline",
    H264Profile.PROFILE_BASELINE: "Baseline",
    H264Profile.PROFILE_MAIN: "Main",
    H264Profile.PROFILE_HIGH: "High",
    H264Profile.PROFILE_CONSTRAINED_HIGH: "Constrained High",
    H264Profile.PROFILE_PREDICTIVE_HIGH_444: "High 4:4:4 Predictive",
}

_H264_IDR = 5
_H264_SPS = 7
_H264_PPS = 8


def is_vp8_keyframe(frame: bytes) -> bool:
    """True for a VP8 key frame (RFC 6386 §9.1: P bit clear, then the start code)."""
    return len(frame) >= 10 and not frame[0] & 0x01 and frame[3:6] == b"\x9d\x01\x2a"


def vp8_dimensions(keyframe: bytes) -> tuple[int, int]:
    """Width and height from a VP8 key frame header (RFC 6386 §9.1)."""
    if not is_vp8_keyframe(keyframe):
        raise ValueError("not a VP8 key frame")
    width = int.from_bytes(keyframe[6:8], "little") & 0x3FFF
    height = int.from_bytes(keyframe[8:10], "little") & 0x3FFF
    return width, height


def h264_nal_types(access_unit: bytes) -> list[int]:
    """The NAL unit types of an Annex B access unit, in order."""
    types = []
    position = access_unit.find(b"\x00\x00\x01")
    while position != -1:
        header = position + 3
        if header < len(access_unit):
            types.append(access_unit[header] & 0x1F)
        position = access_unit.find(b"\x00\x00\x01", header)
    return types


def is_h264_keyframe(access_unit: bytes) -> bool:
    """True when the access unit holds an IDR slice (a decoder can start there)."""
    return _H264_IDR in h264_nal_types(access_unit)


def is_keyframe(mime_type: str, frame: bytes) -> bool:
    """Keyframe test for a video codec; audio frames always count as a start point."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        return is_vp8_keyframe(frame)
    if mime == "video/h264":
        return is_h264_keyframe(frame)
    return not mime.startswith("video/")


Codec = RTCRtpCodecParameters | RTCRtpCodecCapability


def h264_profile(codec: Codec) -> H264Profile:
    """The H.264 profile a codec's ``profile-level-id`` names; ValueError if unknown.

    An absent profile-level-id means constrained baseline 3.1 (RFC 6184 §8.1).
    """
    return parse_h264_profile_level_id(str(codec.parameters.get("profile-level-id", "42e01f")))[0]


def _h264_mode(codec: Codec) -> str:
    return str(codec.parameters.get("packetization-mode", "0"))


def same_codec(a: Codec, b: Codec) -> bool:
    """Whether two codecs are interchangeable byte for byte (H.264: same profile and mode)."""
    if a.mimeType.lower() != b.mimeType.lower() or a.clockRate != b.clockRate:
        return False
    if a.mimeType.lower() == "video/h264":
        try:
            return h264_profile(a) == h264_profile(b) and _h264_mode(a) == _h264_mode(b)
        except ValueError:  # a profile-level-id nobody can decode
            return False
    return True


def describe(codec: Codec) -> str:
    """``video/H264 (High, profile-level-id 64001f, packetization-mode 1)`` or the MIME type."""
    if codec.mimeType.lower() != "video/h264":
        return codec.mimeType
    try:
        profile = H264_PROFILE_NAMES.get(h264_profile(codec), "unknown")
    except ValueError:
        profile = "unknown"
    level_id = codec.parameters.get("profile-level-id", "42e01f")
    return (
        f"{codec.mimeType} ({profile}, profile-level-id {level_id}, "
        f"packetization-mode {_h264_mode(codec)})"
    )


def register_h264_profiles(profiles: tuple[str, ...] = EXTRA_H264_PROFILES) -> None:
    """Add H.264 profiles (packetization-mode 1) to aiortc's codec registry; idempotent.

    aiortc registers only baseline and constrained baseline, and both its
    ``setCodecPreferences`` and its answers read that process-wide registry, so a
    publisher sending High profile (Chromium, OBS) would be refused. The relay never
    decodes nor encodes video, so carrying a profile needs nothing but the entry:
    the depayloader and ``H264Encoder.pack`` work on any Annex B stream. Side
    effect: aiortc peers in this process that encode H.264 themselves (tests, the
    benchmark) also offer these profiles; their encoder still produces baseline,
    which every High decoder accepts.
    """
    video = CODECS["video"]
    for profile_level_id in profiles:
        parameters: dict[str, str | int | None] = {
            "level-asymmetry-allowed": "1",
            "packetization-mode": "1",
            "profile-level-id": profile_level_id,
        }
        wanted = RTCRtpCodecParameters(
            mimeType="video/H264", clockRate=90000, parameters=parameters
        )
        if any(same_codec(codec, wanted) for codec in video):
            continue
        payload_type = max(codec.payloadType or 0 for codec in video) + 1
        if payload_type + 1 > 127:  # the dynamic range is full
            raise RuntimeError("no dynamic RTP payload type left for H.264")
        wanted.payloadType = payload_type
        wanted.rtcpFeedback = [
            RTCRtcpFeedback(type="nack"),
            RTCRtcpFeedback(type="nack", parameter="pli"),
            RTCRtcpFeedback(type="goog-remb"),
        ]
        video.append(wanted)
        video.append(
            RTCRtpCodecParameters(
                mimeType="video/rtx",
                clockRate=90000,
                payloadType=payload_type + 1,
                parameters={"apt": payload_type},
            )
        )


# Before any peer connection negotiates: the relay's transceivers prefer these entries.
register_h264_profiles()


@dataclass(frozen=True)
class CodecChoice:
    """The capability to prefer on a transceiver, with its RTX companion if any."""

    codec: RTCRtpCodecCapability
    rtx: RTCRtpCodecCapability | None

    @property
    def mime_type(self) -> str:
        return self.codec.mimeType

    @property
    def label(self) -> str:
        """The codec for people: the MIME type, with profile and mode for H.264."""
        return describe(self.codec)

    def preferences(self) -> list[RTCRtpCodecCapability]:
        """The list to hand to ``setCodecPreferences``."""
        return [self.codec] if self.rtx is None else [self.codec, self.rtx]


def choose_capability(codec: Codec) -> CodecChoice:
    """The local capability matching ``codec``; ValueError when aiortc cannot carry it."""
    kind = codec.mimeType.split("/")[0].lower()
    capabilities = RTCRtpReceiver.getCapabilities(kind)
    assert capabilities is not None
    rtx = next((c for c in capabilities.codecs if c.mimeType.lower().endswith("/rtx")), None)
    for capability in capabilities.codecs:
        if same_codec(capability, codec):
            return CodecChoice(capability, rtx if kind == "video" else None)
    raise ValueError(f"codec {describe(codec)} is not supported")


def default_choice(kind: str) -> CodecChoice:
    """What a relay offers before any publisher: Opus audio, VP8 video."""
    mime = "audio/opus" if kind == "audio" else DEFAULT_VIDEO_MIME
    clock = 48000 if kind == "audio" else 90000
    return choose_capability(RTCRtpCodecCapability(mimeType=mime, clockRate=clock))


def offered_kinds(sdp: str) -> dict[str, list[RTCRtpCodecParameters]]:
    """The media kinds in an SDP offer with the codecs offered for each (first m-line wins)."""
    description = SessionDescription.parse(sdp)
    kinds: dict[str, list[RTCRtpCodecParameters]] = {}
    for media in description.media:
        if media.kind in KINDS and media.kind not in kinds:
            kinds[media.kind] = list(media.rtp.codecs)
    return kinds


def offer_accepts(codecs: list[RTCRtpCodecParameters], choice: CodecChoice) -> bool:
    """Whether an offer's codec list contains the chosen codec exactly."""
    return any(same_codec(codec, choice.codec) for codec in codecs)


#: H.264 profiles from most to least capable decoder, for answering a viewer. Constrained
#: baseline ranks above baseline: it is the part of baseline that Main and High contain.
_H264_PROFILE_RANK = {
    H264Profile.PROFILE_HIGH: 4,
    H264Profile.PROFILE_CONSTRAINED_HIGH: 3,
    H264Profile.PROFILE_MAIN: 2,
    H264Profile.PROFILE_CONSTRAINED_BASELINE: 1,
    H264Profile.PROFILE_BASELINE: 0,
}


def _h264_rank(codec: Codec) -> int:
    try:
        return _H264_PROFILE_RANK.get(h264_profile(codec), -1)
    except ValueError:
        return -1


def viewer_codec(codecs: list[RTCRtpCodecParameters], stream: CodecChoice) -> CodecChoice:
    """The codec to answer a viewer's offer with, for a stream in ``stream``'s codec.

    The stream's own codec when offered. Otherwise, for H.264, the most capable
    profile the viewer offers with the same packetization-mode: the stream is
    forwarded as is, under that label. Browsers' H.264 decoders take any
    profile up to High whatever their offer lists (Chromium offers no High,
    and plays a High stream labelled Main), and the packetization-mode, which
    decides how the RTP payloads are cut, is the same. ValueError when nothing
    fits (another codec, or only another packetization-mode).
    """
    if offer_accepts(codecs, stream):
        return stream
    wanted = stream.codec
    if wanted.mimeType.lower() != "video/h264":
        raise ValueError(f"the offer does not include {describe(wanted)}")
    candidates = [
        codec
        for codec in codecs
        if codec.mimeType.lower() == "video/h264"
        and codec.clockRate == wanted.clockRate
        and _h264_mode(codec) == _h264_mode(wanted)
        and _h264_rank(codec) >= 0
    ]
    for codec in sorted(candidates, key=_h264_rank, reverse=True):
        try:
            return choose_capability(codec)
        except ValueError:  # a profile aiortc's registry does not carry
            continue
    raise ValueError(f"the offer has no H.264 in packetization-mode {_h264_mode(wanted)}")


def pick_publisher_codec(
    codecs: list[RTCRtpCodecParameters], preferred: CodecChoice | None
) -> CodecChoice:
    """The codec to take from a publisher's offer: the viewers' current one if offered.

    Keeping the codec across a publisher replacement means connected viewers
    keep decoding without renegotiation; otherwise the offer's first codec that
    aiortc supports wins. ValueError when none is usable.
    """
    if preferred is not None and offer_accepts(codecs, preferred):
        return preferred
    for codec in codecs:
        if codec.mimeType.lower().endswith("/rtx"):
            continue
        try:
            return choose_capability(codec)
        except ValueError:
            continue
    raise ValueError("no supported codec offered")
