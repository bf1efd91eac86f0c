"""Display order of a raw H.264 stream (Annex B, ``.264``/``.h264``) from its slice headers.

A raw stream has no timestamps, so frames are numbered by counting what the decoder lets out, and no
frame may be skipped (a skipped frame shifts every index after it). The order a frame is shown in is
written in each picture's slice header, though: its picture order count (POC, H.264 8.2.1). Reading
it for every packet, without decoding, says which frame each packet holds, so that a strided pass can
skip decoding the frames it does not need (:meth:`reidkit.media.source.PyAVVideo.frames`).

Only the common case is read: frame pictures (no fields), POC types 0 and 2, a stream that starts
with an IDR picture. Anything else returns None, and the stream is decoded whole, as before. A
"memory management" reset of the POC (MMCO 5, written after the part of the slice header read here)
is not seen; encoders of cameras and x264 do not write it. A decoder lets frames out in POC order, so
in a stream that had one, frames come out of the order read here: the decoding pass then numbers the
rest by counting (a frame or two near that point may be missed or mislabelled).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from reidkit.core.log import get_logger

log = get_logger(__name__)

_NAL_SLICE, _NAL_IDR, _NAL_SPS, _NAL_PPS = 1, 5, 7, 8
# Profiles whose sequence parameter set carries chroma format, bit depths and scaling matrices.
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


class _Unsupported(Exception):
    """The stream uses a feature this reader does not follow: decode it whole instead."""


class _Bits:
    """Reads an RBSP (a NAL unit's payload without emulation prevention bytes) bit by bit."""

    def __init__(self, data: bytes):
        self.value = int.from_bytes(data, "big")
        self.left = 8 * len(data)

    def u(self, n: int) -> int:
        if n > self.left:
            raise _Unsupported("slice header cut short")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise _Unsupported("bad Exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


def _rbsp(nal: bytes) -> bytes:
    """``nal`` without its header byte and emulation prevention bytes (00 00 03 -> 00 00)."""
    return nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")


def _nal_units(data: bytes) -> Iterable[bytes]:
    """The NAL units of an Annex B byte stream chunk (separated by 00 00 01 start codes)."""
    starts = []
    at = data.find(b"\x00\x00\x01")
    while at >= 0:
        starts.append(at + 3)
        at = data.find(b"\x00\x00\x01", at + 3)
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        unit = data[start:end].rstrip(b"\x00")  # trailing zeros belong to the next start code
        if unit:
            yield unit


@dataclass(frozen=True)
class _Sps:
    frame_num_bits: int
    poc_type: int
    poc_lsb_bits: int
    frame_mbs_only: bool
    separate_colour_planes: bool


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            next_scale = (last + bits.se() + 256) % 256
        last = next_scale or last


def _parse_sps(rbsp: bytes) -> tuple[int, _Sps]:
    bits = _Bits(rbsp)
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    sps_id = bits.ue()
    separate = False
    if profile in _HIGH_PROFILES:
        chroma = bits.ue()
        if chroma == 3:
            separate = bool(bits.u(1))
        for _ in range(2):  # bit depths of luma and chroma
            bits.ue()
        bits.u(1)  # lossless bypass
        if bits.u(1):  # scaling matrices
            for i in range(8 if chroma != 3 else 12):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    frame_num_bits = bits.ue() + 4
    poc_type = bits.ue()
    poc_lsb_bits = 0
    if poc_type == 0:
        poc_lsb_bits = bits.ue() + 4
    elif poc_type != 2:
        raise _Unsupported(f"picture order count type {poc_type}")
    bits.ue()  # reference frames
    bits.u(1)  # gaps in frame_num allowed
    bits.ue()  # width
    bits.ue()  # height
    frame_mbs_only = bool(bits.u(1))
    return sps_id, _Sps(frame_num_bits, poc_type, poc_lsb_bits, frame_mbs_only, separate)


def _parse_pps(rbsp: bytes) -> tuple[int, int, bool]:
    bits = _Bits(rbsp)
    pps_id, sps_id = bits.ue(), bits.ue()
    bits.u(1)  # entropy coding mode
    return pps_id, sps_id, bool(bits.u(1))  # bottom_field_pic_order_in_frame_present


class _OrderCounter:
    """Follows parameter sets and picture order counts through a stream, packet by packet."""

    def __init__(self) -> None:
        self.sps: dict[int, _Sps] = {}
        self.pps: dict[int, tuple[int, bool]] = {}
        self.previous_msb = self.previous_lsb = 0  # of the last reference picture (8.2.1.1)
        self.period = -1  # counts IDR pictures: the POC starts over at each
        self.pictures = 0

    def picture_key(self, packet: bytes) -> tuple[int, int] | None:
        """(IDR period, POC) of the picture in ``packet``, in display order; None: no picture in it."""
        key = None
        for nal in _nal_units(packet):
            kind, ref_idc = nal[0] & 0x1F, (nal[0] >> 5) & 3
            if kind == _NAL_SPS:
                sps_id, sps = _parse_sps(_rbsp(nal))
                self.sps[sps_id] = sps
            elif kind == _NAL_PPS:
                pps_id, sps_id, bottom_poc = _parse_pps(_rbsp(nal))
                self.pps[pps_id] = (sps_id, bottom_poc)
            elif kind in (_NAL_SLICE, _NAL_IDR):
                bits = _Bits(_rbsp(nal[:64]))  # the header is in the first bytes
                if bits.ue() != 0:
                    continue  # a later slice of the same picture
                if key is not None:
                    raise _Unsupported("two pictures in one packet")
                key = self._slice_key(bits, kind == _NAL_IDR, ref_idc)
        if key is not None:
            self.pictures += 1
        return key

    def _slice_key(self, bits: _Bits, idr: bool, ref_idc: int) -> tuple[int, int]:
        bits.ue()  # slice type
        pps = self.pps.get(bits.ue())
        sps = self.sps.get(pps[0]) if pps is not None else None
        if pps is None or sps is None:
            raise _Unsupported("slice before its parameter sets")
        if self.period < 0 and not idr:
            raise _Unsupported("stream does not start with an IDR picture")
        if sps.separate_colour_planes:
            bits.u(2)
        bits.u(sps.frame_num_bits)
        if not sps.frame_mbs_only and bits.u(1):
            raise _Unsupported("field pictures")
        if idr:
            bits.ue()  # idr_pic_id
            self.period += 1
            self.previous_msb = self.previous_lsb = 0
        if sps.poc_type == 2:  # output order is decoding order
            return self.period, self.pictures
        lsb = bits.u(sps.poc_lsb_bits)
        bottom = bits.se() if pps[1] else 0  # delta_pic_order_cnt_bottom
        half = 1 << (sps.poc_lsb_bits - 1)
        msb = self.previous_msb
        if lsb < self.previous_lsb and self.previous_lsb - lsb >= half:
            msb += 2 * half
        elif lsb > self.previous_lsb and lsb - self.previous_lsb > half:
            msb -= 2 * half
        if ref_idc:
            self.previous_msb, self.previous_lsb = msb, lsb
        return self.period, msb + lsb + min(0, bottom)


def display_indices(packets: Iterable[bytes]) -> list[int | None] | None:
    """For each packet of a raw H.264 stream, in decoding order: the index of its frame in display
    order (None for a packet without a picture). None when the stream cannot be followed."""
    counter = _OrderCounter()
    keys: list[tuple[int, int] | None] = []
    try:
        for packet in packets:
            keys.append(counter.picture_key(packet))
    except _Unsupported as exc:
        log.debug("raw H.264 stream decoded whole: %s", exc)
        return None
    pictures = sorted((key, at) for at, key in enumerate(keys) if key is not None)
    if any(a[0] == b[0] for a, b in pairwise(pictures)):
        log.debug("raw H.264 stream decoded whole: two pictures share a picture order count")
        return None
    indices: list[int | None] = [None] * len(keys)
    for index, (_, at) in enumerate(pictures):
        indices[at] = index
    return indices
