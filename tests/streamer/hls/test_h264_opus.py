"""H.264 and Opus facts the packager relies on, checked against real encoders' output."""

from __future__ import annotations

import struct

import pytest

from livemarket.streamer.hls.h264 import (
    NAL_PPS,
    NAL_SPS,
    avc_decoder_configuration,
    length_prefixed,
    nal_type,
    parse_sps,
    split_nals,
)
from livemarket.streamer.hls.opus import dops, packet_samples
from tests.streamer.hls.media import h264_frames, opus_packets


def test_split_nals_handles_both_start_code_lengths() -> None:
    unit = b"\x00\x00\x00\x01\x67\x42\x00" + b"\x00\x00\x01\x68\xce" + b"\x00\x00\x00\x01\x65\x88"
    assert split_nals(unit) == [b"\x67\x42", b"\x68\xce", b"\x65\x88"]
    assert split_nals(b"") == []
    assert length_prefixed(split_nals(unit)) == (
        b"\x00\x00\x00\x02\x67\x42\x00\x00\x00\x02\x68\xce\x00\x00\x00\x02\x65\x88"
    )


@pytest.mark.parametrize("profile", ["baseline", "high"])
@pytest.mark.parametrize(("width", "height"), [(320, 240), (426, 238), (1280, 720), (1920, 1080)])
def test_sps_gives_the_encoded_picture_size(profile: str, width: int, height: int) -> None:
    keyframe = h264_frames(1, width=width, height=height, profile=profile)[0]
    sps = next(nal for nal in split_nals(keyframe.data) if nal_type(nal) == NAL_SPS)
    info = parse_sps(sps)
    assert (info.width, info.height) == (width, height)
    assert info.codec == "avc1." + sps[1:4].hex()
    assert info.profile_idc == (66 if profile == "baseline" else 100)


def test_avcc_record_holds_the_parameter_sets() -> None:
    nals = split_nals(h264_frames(1, profile="high")[0].data)
    sps = next(nal for nal in nals if nal_type(nal) == NAL_SPS)
    pps = next(nal for nal in nals if nal_type(nal) == NAL_PPS)
    record = avc_decoder_configuration(sps, pps)
    assert record[:4] == b"\x01" + sps[1:4]
    assert record[4] & 0x03 == 3  # 4-byte NAL lengths, as length_prefixed writes them
    assert record[5] & 0x1F == 1 and record[6:8] == struct.pack(">H", len(sps))
    assert record[8 : 8 + len(sps)] == sps
    rest = record[8 + len(sps) :]
    assert rest[0] == 1 and rest[3 : 3 + len(pps)] == pps
    assert rest[3 + len(pps)] & 0x03 == 1  # high profile: chroma_format 4:2:0 follows


def test_parse_sps_refuses_other_nal_units() -> None:
    with pytest.raises(ValueError):
        parse_sps(b"\x68\xce\x38\x80")


def test_opus_packet_durations() -> None:
    packets = opus_packets(0.2)
    assert {packet_samples(p.data) for p in packets} == {960}  # libopus 20 ms packets
    assert packet_samples(bytes([(31 << 3) | 0])) == 960  # CELT 20 ms, one frame
    assert packet_samples(bytes([(16 << 3) | 1])) == 240  # CELT 2.5 ms, two frames
    assert packet_samples(bytes([(3 << 3) | 3, 0x03])) == 3 * 2880  # SILK 60 ms, three frames


def test_dops_is_big_endian_family_zero() -> None:
    assert dops(2) == b"\x00\x02\x00\x00\x00\x00\xbb\x80\x00\x00\x00"
    assert dops(1, pre_skip=312)[2:4] == struct.pack(">H", 312)
    with pytest.raises(ValueError):
        dops(6)
