"""MS-OVBA 2.4.1 compression and decompression of VBA streams.

A compressed container is a signature byte (0x01) followed by chunks; each chunk holds
up to 4096 decompressed bytes, stored either as LZ77-style token sequences or raw.
"""

from __future__ import annotations

__all__ = ["compress", "decompress"]

_CHUNK_SIZE = 4096
_SIGNATURE = 0x01
_MIN_MATCH = 3
# Chunk header: bits 0-11 = chunk size - 3, bits 12-14 = 0b011, bit 15 = compressed flag.
_HEADER_SIGNATURE = 0x3000
_HEADER_COMPRESSED = 0x8000


def _bit_count(position: int) -> int:
    """Offset bits of a CopyToken at ``position`` bytes into its decompressed chunk."""
    # max(ceil(log2(position)), 4): (position - 1).bit_length() is ceil(log2) for position >= 1.
    return max((position - 1).bit_length(), 4)


def _match_length(data: bytes, candidate: int, current: int, limit: int) -> int:
    """Length of the common prefix of data[candidate:] and data[current:], at most ``limit``."""
    low, high = 0, limit
    step = 8
    # Gallop to bracket the answer, then binary search; slice compares run in C.
    while low < high:
        probe = min(low + step, high)
        if data[candidate + low : candidate + probe] == data[current + low : current + probe]:
            low = probe
            step *= 2
        else:
            high = probe - 1
            break
    while low < high:
        mid = (low + high + 1) // 2
        if data[candidate : candidate + mid] == data[current : current + mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _find_match(data: bytes, chunk_start: int, current: int, chunk_end: int) -> tuple[int, int]:
    """Return (offset, length) of the longest, nearest earlier match in the chunk, or (0, 0)."""
    max_length = (0xFFFF >> _bit_count(current - chunk_start)) + 3
    limit = min(max_length, chunk_end - current)
    if limit < _MIN_MATCH or current == chunk_start:
        return 0, 0
    best_offset = 0
    best_length = 0
    want = _MIN_MATCH
    while want <= limit:
        # rfind returns the nearest candidate start < current whose match is >= want long;
        # matches may overlap the current position, hence the haystack end.
        candidate = data.rfind(data[current : current + want], chunk_start, current + want - 1)
        if candidate < 0:
            break
        best_length = _match_length(data, candidate, current, limit)
        best_offset = current - candidate
        want = best_length + 1
    return best_offset, best_length


def _compress_chunk(data: bytes, chunk_start: int, chunk_end: int) -> bytes:
    out = bytearray()
    current = chunk_start
    while current < chunk_end:
        flag_index = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if current >= chunk_end:
                break
            offset, length = _find_match(data, chunk_start, current, chunk_end)
            if length >= _MIN_MATCH:
                bits = _bit_count(current - chunk_start)
                token = ((offset - 1) << (16 - bits)) | (length - 3)
                out += token.to_bytes(2, "little")
                flags |= 1 << bit
                current += length
            else:
                out.append(data[current])
                current += 1
        out[flag_index] = flags
    if len(out) > _CHUNK_SIZE:
        # Does not fit a compressed chunk: store raw, zero-padded to 4096 bytes as the spec says.
        raw = data[chunk_start:chunk_end].ljust(_CHUNK_SIZE, b"\x00")
        header = _HEADER_SIGNATURE | (_CHUNK_SIZE - 1)
        return header.to_bytes(2, "little") + raw
    header = _HEADER_COMPRESSED | _HEADER_SIGNATURE | (len(out) + 2 - 3)
    return header.to_bytes(2, "little") + bytes(out)


def compress(data: bytes) -> bytes:
    """Compress ``data`` into an MS-OVBA CompressedContainer."""
    data = bytes(data)
    parts = [bytes([_SIGNATURE])]
    for chunk_start in range(0, len(data), _CHUNK_SIZE):
        chunk_end = min(chunk_start + _CHUNK_SIZE, len(data))
        parts.append(_compress_chunk(data, chunk_start, chunk_end))
    return b"".join(parts)


def decompress(data: bytes) -> bytes:
    """Decompress an MS-OVBA CompressedContainer."""
    data = bytes(data)
    if not data or data[0] != _SIGNATURE:
        raise ValueError("not an MS-OVBA compressed container (bad signature byte)")
    out = bytearray()
    pos = 1
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError(f"truncated chunk header at offset {pos}")
        header = int.from_bytes(data[pos : pos + 2], "little")
        if header & 0x7000 != _HEADER_SIGNATURE:
            raise ValueError(f"bad chunk signature at offset {pos}")
        chunk_size = (header & 0x0FFF) + 3
        chunk_end = min(pos + chunk_size, len(data))
        pos += 2
        if not header & _HEADER_COMPRESSED:
            out += data[pos : pos + _CHUNK_SIZE]
            pos = chunk_end
            continue
        chunk_start = len(out)
        while pos < chunk_end:
            flags = data[pos]
            pos += 1
            for bit in range(8):
                if pos >= chunk_end:
                    break
                if not flags >> bit & 1:
                    out.append(data[pos])
                    pos += 1
                    continue
                if pos + 2 > chunk_end:
                    raise ValueError(f"truncated copy token at offset {pos}")
                token = int.from_bytes(data[pos : pos + 2], "little")
                pos += 2
                bits = _bit_count(len(out) - chunk_start)
                length = (token & (0xFFFF >> bits)) + 3
                offset = (token >> (16 - bits)) + 1
                source = len(out) - offset
                if source < chunk_start:
                    raise ValueError("copy token points before the start of its chunk")
                if offset >= length:
                    out += out[source : source + length]
                else:
                    # Overlapping copy repeats the last ``offset`` bytes.
                    for index in range(length):
                        out.append(out[source + index])
    return bytes(out)
