"""H.264 facts for packaging, with no I/O: NAL units, the SPS, avcC and the codec string.

The relay hands over Annex B access units (start codes between NAL units), as
aiortc's depayloader yields them; MP4 wants each NAL unit prefixed by its length
instead, and the sample entry wants the SPS and PPS in an ``avcC`` record
(ISO/IEC 14496-15 §5.3.3). The SPS also gives the picture size for the track
header and the ``avc1.PPCCLL`` codec string for playlists.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9

_START = b"\x00\x00\x01"
#: Profiles whose SPS (and avcC) carry chroma format and bit depths (H.264 §7.3.2.1.1).
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
#: Profiles whose avcC ends with chroma format and bit depths (ISO/IEC 14496-15 §5.3.3.1.2).
_AVCC_EXTENDED = frozenset({100, 110, 122, 144})


def split_nals(access_unit: bytes) -> list[bytes]:
    """The NAL units of an Annex B access unit, without start codes.

    Handles 3- and 4-byte start codes; trailing zero bytes before a start code
    (the 4-byte form, ``trailing_zero_8bits``) are not part of a NAL unit.
    """
    nals = []
    find = access_unit.find
    start = find(_START)
    while start != -1:
        begin = start + 3
        start = find(_START, begin)
        nal = access_unit[begin:] if start == -1 else access_unit[begin:start]
        nal = nal.rstrip(b"\x00")
        if nal:
            nals.append(nal)
    return nals


def nal_type(nal: bytes) -> int:
    """The ``nal_unit_type`` of a NAL unit (without start code)."""
    return nal[0] & 0x1F


def length_prefixed(nals: Iterable[bytes]) -> bytes:
    """NAL units as one MP4 sample: each prefixed by its 4-byte big-endian length."""
    return b"".join(struct.pack(">I", len(nal)) + nal for nal in nals)


@dataclass(frozen=True)
class Sps:
    """What packaging needs from a sequence parameter set (H.264 §7.3.2.1.1)."""

    profile_idc: int
    constraint_flags: int
    level_idc: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    width: int
    height: int

    @property
    def codec(self) -> str:
        """The RFC 6381 codec string, e.g. ``avc1.42e01f``."""
        return f"avc1.{self.profile_idc:02x}{self.constraint_flags:02x}{self.level_idc:02x}"


class _Bits:
    """An MSB-first bit reader over an RBSP (emulation prevention removed)."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def u(self, count: int) -> int:
        if count > self._left:
            raise ValueError("SPS truncated")
        self._left -= count
        return (self._value >> self._left) & ((1 << count) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad Exp-Golomb code in SPS")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


def _rbsp(nal: bytes) -> bytes:
    """The NAL payload without emulation prevention bytes (00 00 03 → 00 00)."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    position = 0
    while (found := nal.find(b"\x00\x00\x03", position)) != -1:
        out += nal[position : found + 2]
        position = found + 3
    out += nal[position:]
    return bytes(out)


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            next_scale = (last + bits.se() + 256) % 256
        last = next_scale or last


def parse_sps(nal: bytes) -> Sps:
    """Parse an SPS NAL unit (with its 1-byte header); ValueError if it is not one."""
    if not nal or nal_type(nal) != NAL_SPS or len(nal) < 4:
        raise ValueError("not an SPS NAL unit")
    bits = _Bits(_rbsp(nal[1:]))
    profile, constraints, level = bits.u(8), bits.u(8), bits.u(8)
    bits.ue()  # seq_parameter_set_id
    chroma_format, separate_planes, depth_luma, depth_chroma = 1, 0, 8, 8
    if profile in _HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            separate_planes = bits.u(1)
        depth_luma, depth_chroma = bits.ue() + 8, bits.ue() + 8
        bits.u(1)  # qpprime_y_zero_transform_bypass_flag
        if bits.u(1):  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format != 3 else 12):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        bits.u(1)
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs, height_units = bits.ue() + 1, bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)  # mb_adaptive_frame_field_flag
    bits.u(1)  # direct_8x8_inference_flag
    crop_left = crop_right = crop_top = crop_bottom = 0
    if bits.u(1):
        crop_left, crop_right, crop_top, crop_bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
    chroma_array_type = 0 if separate_planes else chroma_format
    if chroma_array_type == 0:
        crop_x, crop_y = 1, 2 - frame_mbs_only
    else:
        sub_width = 1 if chroma_format == 3 else 2
        sub_height = 2 if chroma_format == 1 else 1
        crop_x, crop_y = sub_width, sub_height * (2 - frame_mbs_only)
    width = width_mbs * 16 - crop_x * (crop_left + crop_right)
    height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (crop_top + crop_bottom)
    return Sps(profile, constraints, level, chroma_format, depth_luma, depth_chroma, width, height)


def avc_decoder_configuration(sps: bytes, pps: bytes) -> bytes:
    """The ``avcC`` box payload (AVCDecoderConfigurationRecord) for one SPS and one PPS."""
    info = parse_sps(sps)
    record = struct.pack(">BBBBBBH", 1, sps[1], sps[2], sps[3], 0xFC | 3, 0xE0 | 1, len(sps))
    record += sps + struct.pack(">BH", 1, len(pps)) + pps
    if info.profile_idc in _AVCC_EXTENDED:
        record += struct.pack(
            ">BBBB",
            0xFC | info.chroma_format_idc,
            0xF8 | (info.bit_depth_luma - 8),
            0xF8 | (info.bit_depth_chroma - 8),
            0,
        )
    return record
