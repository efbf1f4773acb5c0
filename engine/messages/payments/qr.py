"""The EPC QR code's modules: one byte-mode segment, error correction M, mask 4, version 1-13.

EPC069-12 asks for error correction level M and at most version 13, and banking apps expect the
payload's bytes in one byte-mode segment. segno makes exactly that, but it is pure Python and
took 1.4 ms per code (Reed-Solomon, module placement and masking, bit by bit); zxing-cpp's
encoder (zint) is fast but splits the payload into numeric, alphanumeric and byte segments and
cannot be told not to, and adds an ECI header for bytes. So this module encodes the one code we
need with the parts that do not depend on the payload made once per version:

- the function patterns, format and version information come from a segno code of that
  version (mask 4, level M): segno stays the reference for everything but the data modules;
- the data region's reading order and the mask over it are computed once per version;
- per code only the codewords are built (mode, count, bytes, terminator, padding), their
  Reed-Solomon blocks computed with Python integers as shift registers, interleaved, and
  scattered into a copy of the template with numpy.

tests/messages/test_payments.py checks that every code is module for module the one segno
makes for the same payload, mask and level, and reads codes back with zxing-cpp;
bench/qr_decode.py has zbarimg read thousands.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
import segno

#: The QR mask every EPC code uses: (row // 2 + column // 3) even flips a data module. Choosing
#: the mask by penalty score, as the QR standard suggests, is the costly part of making a code
#: and any mask decodes. Mask 4 is the one full scoring picks most often for EPC payloads (44 %
#: of 200 varied payloads, the next 20 %).
EPC_QR_MASK = 4
#: EPC069-12's largest QR version (331 payload bytes fill version 13 at level M exactly).
EPC_MAX_VERSION = 13

#: Level M blocks per version (ISO/IEC 18004 table 9): (ECC codewords per block,
#: ((blocks, data codewords per block), ...)).
_BLOCKS_M: dict[int, tuple[int, tuple[tuple[int, int], ...]]] = {
    1: (10, ((1, 16),)),
    2: (16, ((1, 28),)),
    3: (26, ((1, 44),)),
    4: (18, ((2, 32),)),
    5: (24, ((2, 43),)),
    6: (16, ((4, 27),)),
    7: (18, ((4, 31),)),
    8: (22, ((2, 38), (2, 39))),
    9: (22, ((3, 36), (2, 37))),
    10: (26, ((4, 43), (1, 44))),
    11: (30, ((1, 50), (4, 51))),
    12: (22, ((6, 36), (2, 37))),
    13: (22, ((8, 37), (1, 38))),
}
#: Alignment pattern centres per version (ISO/IEC 18004 annex E).
_ALIGNMENT = {
    1: (),
    2: (6, 18),
    3: (6, 22),
    4: (6, 26),
    5: (6, 30),
    6: (6, 34),
    7: (6, 22, 38),
    8: (6, 24, 42),
    9: (6, 26, 46),
    10: (6, 28, 50),
    11: (6, 30, 54),
    12: (6, 32, 58),
    13: (6, 34, 62),
}

Matrix = npt.NDArray[np.bool_]


class QrTooLong(ValueError):
    """The payload does not fit an EPC QR code (version 13, level M)."""


def _data_capacity(version: int) -> int:
    _, groups = _BLOCKS_M[version]
    return sum(blocks * size for blocks, size in groups)


def version_for(length: int) -> int:
    """The smallest version whose level-M capacity holds `length` bytes in one byte segment."""
    for version in range(1, EPC_MAX_VERSION + 1):
        count_bits = 8 if version < 10 else 16
        if 4 + count_bits + 8 * length <= 8 * _data_capacity(version):
            return version
    raise QrTooLong(
        f"{length} bytes do not fit an EPC QR code (version {EPC_MAX_VERSION}, level M holds"
        " 331); shorten the name or the remittance text"
    )


# ---------------------------------------------------------------- Reed-Solomon (GF(256), 0x11d)

_EXP = [0] * 512
_LOG = [0] * 256
_value = 1
for _power in range(255):
    _EXP[_power] = _value
    _LOG[_value] = _power
    _value <<= 1
    if _value & 0x100:
        _value ^= 0x11D
for _power in range(255, 512):
    _EXP[_power] = _EXP[_power - 255]


def _gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


@functools.cache
def _feedback(ecc: int) -> tuple[int, ...]:
    """For each feedback byte f, f times the generator polynomial's low `ecc` coefficients, as
    one integer (the highest coefficient in the top byte): the shift register's XOR term."""
    poly = [1]  # generator (x - a^0)(x - a^1)...(x - a^(ecc-1)), highest degree first
    for i in range(ecc):
        nxt = [*poly, 0]
        for j, coefficient in enumerate(poly):
            nxt[j + 1] ^= _gf_mul(coefficient, _EXP[i])
        poly = nxt
    low = poly[1:]
    return tuple(int.from_bytes(bytes(_gf_mul(f, c) for c in low), "big") for f in range(256))


def _ecc_block(data: bytes, ecc: int) -> bytes:
    """The block's error correction codewords: data * x^ecc mod generator."""
    table = _feedback(ecc)
    shift = 8 * (ecc - 1)
    mask = (1 << (8 * ecc)) - 1
    register = 0
    for byte in data:
        register = ((register << 8) & mask) ^ table[(register >> shift) ^ byte]
    return register.to_bytes(ecc, "big")


# ---------------------------------------------------------------- per version, made once


@functools.cache
def _function_modules(version: int) -> Matrix:
    """True where a module is a finder, separator, timing, alignment, format, version or dark
    module: everything the data does not go into."""
    size = 17 + 4 * version
    fixed = np.zeros((size, size), dtype=bool)
    fixed[:9, :9] = True  # finder + separator + format (top left)
    fixed[:9, size - 8 :] = True  # top right, format row
    fixed[size - 8 :, :9] = True  # bottom left, format column and the dark module
    centres = _ALIGNMENT[version]
    for row in centres:
        for column in centres:
            if fixed[row, column]:  # overlaps a finder pattern (timing is not set yet)
                continue
            fixed[row - 2 : row + 3, column - 2 : column + 3] = True
    fixed[6, :] = True
    fixed[:, 6] = True
    if version >= 7:
        fixed[:6, size - 11 : size - 8] = True
        fixed[size - 11 : size - 8, :6] = True
    return fixed


@functools.cache
def _data_positions(version: int) -> npt.NDArray[np.intp]:
    """The flat indices of the data modules in reading order: two-column strips from the right,
    upwards and downwards in turn, skipping the vertical timing column."""
    size = 17 + 4 * version
    fixed = _function_modules(version)
    order: list[int] = []
    upwards = True
    right = size - 1
    while right > 0:
        if right == 6:
            right -= 1
        rows = range(size - 1, -1, -1) if upwards else range(size)
        for row in rows:
            for column in (right, right - 1):
                if not fixed[row, column]:
                    order.append(row * size + column)
        upwards = not upwards
        right -= 2
    return np.array(order, dtype=np.intp)


@functools.cache
def _template(version: int) -> tuple[Matrix, Matrix]:
    """segno's function patterns, format and version information for this version at level M
    and mask 4 (data modules cleared), and the mask over the data region."""
    reference = segno.make(
        "a", version=version, error="m", boost_error=False, micro=False, mode="byte",
        mask=EPC_QR_MASK,
    )  # fmt: skip
    template = np.array(reference.matrix, dtype=bool)
    fixed = _function_modules(version)
    template[~fixed] = False
    rows, columns = np.indices(template.shape)
    flips = ((rows // 2 + columns // 3) % 2 == 0) & ~fixed
    return template, flips


# ---------------------------------------------------------------- per code


def _codewords(payload: bytes, version: int) -> bytes:
    """Data codewords (one byte segment, terminator, padding) interleaved with their blocks'
    error correction codewords."""
    ecc, groups = _BLOCKS_M[version]
    capacity = _data_capacity(version)
    count_bits = 8 if version < 10 else 16
    bits = (0b0100 << count_bits | len(payload)) << 8 * len(payload) | int.from_bytes(
        payload, "big"
    )
    length = 4 + count_bits + 8 * len(payload)
    terminator = min(4, 8 * capacity - length)
    bits <<= terminator
    length += terminator
    # zero bits up to the next byte boundary, and, as segno writes it, a whole zero byte when
    # the stream already ends on one (readers stop at the terminator): every code stays the
    # one segno made, module for module
    pad = -length % 8 or 8
    bits <<= pad
    length += pad
    data = bits.to_bytes(length // 8, "big")[:capacity]
    fill = capacity - len(data)
    data += (b"\xec\x11" * (fill // 2 + 1))[:fill]
    blocks: list[bytes] = []
    start = 0
    for count, size in groups:
        for _ in range(count):
            blocks.append(data[start : start + size])
            start += size
    out = bytearray()
    longest = max(len(b) for b in blocks)
    for i in range(longest):
        out.extend(b[i] for b in blocks if i < len(b))
    corrections = [_ecc_block(b, ecc) for b in blocks]
    for i in range(ecc):
        out.extend(c[i] for c in corrections)
    return bytes(out)


def epc_qr_matrix(payload: bytes) -> Matrix:
    """The code's modules (True = dark), without quiet zone: the smallest version at level M
    holding `payload` in one byte-mode segment, mask 4."""
    version = version_for(len(payload))
    template, flips = _template(version)
    positions = _data_positions(version)
    bits = np.unpackbits(np.frombuffer(_codewords(payload, version), dtype=np.uint8))
    matrix = template.copy()
    flat = matrix.reshape(-1)
    flat[positions[: bits.size]] = bits.astype(bool)  # the rest are remainder bits, 0
    matrix ^= flips
    return matrix
