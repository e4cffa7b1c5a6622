"""Deterministic writer of [MS-CFB] compound files (version 3, 512-byte sectors).

Only what a VBA project needs: storages and streams, no timestamps, no CLSIDs, no
state bits, so the same input always gives the same bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["write_compound_file"]

_SECTOR = 512
_MINI_SECTOR = 64
_MINI_CUTOFF = 4096
_ENTRY_SIZE = 128
_HEADER_DIFAT = 109
_IDS_PER_SECTOR = _SECTOR // 4

_MAXREGSECT = 0xFFFFFFFA
_DIFSECT = 0xFFFFFFFC
_FATSECT = 0xFFFFFFFD
_ENDOFCHAIN = 0xFFFFFFFE
_FREESECT = 0xFFFFFFFF
_NOSTREAM = 0xFFFFFFFF

_TYPE_STORAGE = 1
_TYPE_STREAM = 2
_TYPE_ROOT = 5
_RED = 0
_BLACK = 1

_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
_FORBIDDEN = set("/\\:!")


@dataclass
class _Entry:
    name: str
    kind: int
    data: bytes = b""
    children: dict[str, _Entry] = field(default_factory=dict)
    index: int = 0
    left: int = _NOSTREAM
    right: int = _NOSTREAM
    child: int = _NOSTREAM
    color: int = _BLACK
    start: int = _ENDOFCHAIN
    size: int = 0


def _sort_key(name: str) -> tuple[int, str]:
    # [MS-CFB] 2.6.4: shorter names sort first, equal lengths compare upper-cased.
    return (len(name.encode("utf-16-le")) // 2, name.upper())


def _build_tree(children: list[_Entry]) -> int:
    """Link sorted siblings into a balanced red-black tree and return the root's index."""
    ordered = sorted(children, key=lambda entry: _sort_key(entry.name))
    depths: dict[int, int] = {}

    def link(low: int, high: int, depth: int) -> int:
        if low > high:
            return _NOSTREAM
        mid = (low + high + 1) // 2
        node = ordered[mid]
        depths[id(node)] = depth
        node.left = link(low, mid - 1, depth + 1)
        node.right = link(mid + 1, high, depth + 1)
        return node.index

    root = link(0, len(ordered) - 1, 0)
    if ordered:
        # Median splitting leaves every empty link at depth d or d+1; colouring the
        # deepest level red (when it is incomplete) gives equal black heights everywhere.
        deepest = max(depths.values())
        if len(ordered) != (1 << (deepest + 1)) - 1:
            for node in ordered:
                node.color = _RED if depths[id(node)] == deepest else _BLACK
        else:
            for node in ordered:
                node.color = _BLACK
    return root


def _validate_name(name: str) -> None:
    if not name or len(name.encode("utf-16-le")) // 2 > 31:
        raise ValueError(f"compound file entry name must be 1-31 characters: {name!r}")
    if _FORBIDDEN & set(name):
        raise ValueError(f"compound file entry name contains a forbidden character: {name!r}")


def _build_hierarchy(streams: dict[str, bytes]) -> tuple[_Entry, list[_Entry]]:
    root = _Entry("Root Entry", _TYPE_ROOT)
    for path in sorted(streams):
        parts = path.split("/")
        node = root
        for part in parts[:-1]:
            _validate_name(part)
            key = part.upper()
            existing = node.children.get(key)
            if existing is None:
                existing = _Entry(part, _TYPE_STORAGE)
                node.children[key] = existing
            elif existing.kind != _TYPE_STORAGE:
                raise ValueError(f"{path!r}: {part!r} is already a stream")
            node = existing
        _validate_name(parts[-1])
        key = parts[-1].upper()
        if key in node.children:
            raise ValueError(f"duplicate compound file entry: {path!r}")
        node.children[key] = _Entry(parts[-1], _TYPE_STREAM, data=bytes(streams[path]))

    # Breadth-first numbering: root is entry 0, siblings in CFB sort order.
    entries = [root]
    queue = [root]
    while queue:
        node = queue.pop(0)
        for child in sorted(node.children.values(), key=lambda entry: _sort_key(entry.name)):
            child.index = len(entries)
            entries.append(child)
            queue.append(child)
    for node in entries:
        if node.children:
            node.child = _build_tree(list(node.children.values()))
    return root, entries


def _sectors_for(length: int, unit: int) -> int:
    return (length + unit - 1) // unit


def _pack_entry(entry: _Entry | None) -> bytes:
    if entry is None:
        return struct.pack(
            "<64sHBBIII16sIQQIQ", b"", 0, 0, 0, _NOSTREAM, _NOSTREAM, _NOSTREAM, b"", 0, 0, 0, 0, 0
        )
    name = entry.name.encode("utf-16-le") + b"\x00\x00"
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        name,
        len(name),
        entry.kind,
        entry.color,
        entry.left,
        entry.right,
        entry.child,
        b"",
        0,
        0,
        0,
        entry.start,
        entry.size,
    )


def write_compound_file(streams: dict[str, bytes]) -> bytes:
    """Build a CFB v3 file holding ``streams``, keyed by "/"-separated paths."""
    root, entries = _build_hierarchy(streams)
    stream_entries = [entry for entry in entries if entry.kind == _TYPE_STREAM]

    # Mini stream: streams under the cutoff, each padded to 64-byte mini sectors.
    mini_data = bytearray()
    mini_fat: list[int] = []
    for entry in stream_entries:
        entry.size = len(entry.data)
        if 0 < entry.size < _MINI_CUTOFF:
            count = _sectors_for(entry.size, _MINI_SECTOR)
            entry.start = len(mini_fat)
            mini_fat.extend(range(entry.start + 1, entry.start + count))
            mini_fat.append(_ENDOFCHAIN)
            mini_data += entry.data.ljust(count * _MINI_SECTOR, b"\x00")

    big_entries = [entry for entry in stream_entries if entry.size >= _MINI_CUTOFF]
    dir_sectors = _sectors_for(len(entries) * _ENTRY_SIZE, _SECTOR)
    minifat_sectors = _sectors_for(len(mini_fat) * 4, _SECTOR)
    ministream_sectors = _sectors_for(len(mini_data), _SECTOR)
    data_sectors = sum(_sectors_for(entry.size, _SECTOR) for entry in big_entries)
    content = dir_sectors + minifat_sectors + ministream_sectors + data_sectors

    # FAT sectors must also map themselves and any DIFAT sectors: iterate to a fixed point.
    fat_sectors = 0
    difat_sectors = 0
    while True:
        needed_difat = _sectors_for(max(fat_sectors - _HEADER_DIFAT, 0), _IDS_PER_SECTOR - 1)
        needed_fat = _sectors_for(content + fat_sectors + needed_difat, _IDS_PER_SECTOR)
        if needed_fat == fat_sectors and needed_difat == difat_sectors:
            break
        fat_sectors, difat_sectors = needed_fat, needed_difat

    # Sector layout: FAT, DIFAT, directory, mini FAT, mini stream, then big streams.
    fat = [_FREESECT] * (fat_sectors * _IDS_PER_SECTOR)
    cursor = 0

    def allocate(count: int, marker: int | None = None) -> int:
        nonlocal cursor
        if count == 0:
            return _ENDOFCHAIN
        first = cursor
        for sector in range(first, first + count):
            if marker is not None:
                fat[sector] = marker
            else:
                fat[sector] = sector + 1 if sector + 1 < first + count else _ENDOFCHAIN
        cursor += count
        if cursor > _MAXREGSECT:
            raise ValueError("compound file too large")
        return first

    fat_start = allocate(fat_sectors, _FATSECT)
    difat_start = allocate(difat_sectors, _DIFSECT)
    dir_start = allocate(dir_sectors)
    minifat_start = allocate(minifat_sectors)
    ministream_start = allocate(ministream_sectors)
    for entry in big_entries:
        entry.start = allocate(_sectors_for(entry.size, _SECTOR))

    root.start = ministream_start
    root.size = len(mini_data)
    for entry in entries:
        if entry.kind == _TYPE_STORAGE:
            entry.start = 0  # [MS-CFB] 2.6.3: storages have zero start sector and size

    fat_ids = list(range(fat_start, fat_start + fat_sectors))
    header_difat = fat_ids[:_HEADER_DIFAT]
    header_difat += [_FREESECT] * (_HEADER_DIFAT - len(header_difat))
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        _SIGNATURE,
        b"",
        0x003E,
        0x0003,
        0xFFFE,
        9,
        6,
        b"",
        0,
        fat_sectors,
        dir_start,
        0,
        _MINI_CUTOFF,
        minifat_start,
        minifat_sectors,
        difat_start if difat_sectors else _ENDOFCHAIN,
        difat_sectors,
    ) + struct.pack(f"<{_HEADER_DIFAT}I", *header_difat)

    out = bytearray(header)
    out += struct.pack(f"<{len(fat)}I", *fat)

    remaining = fat_ids[_HEADER_DIFAT:]
    per_difat = _IDS_PER_SECTOR - 1
    for number in range(difat_sectors):
        ids = remaining[number * per_difat : (number + 1) * per_difat]
        ids += [_FREESECT] * (per_difat - len(ids))
        following = difat_start + number + 1 if number + 1 < difat_sectors else _ENDOFCHAIN
        out += struct.pack(f"<{_IDS_PER_SECTOR}I", *ids, following)

    unused_entries = dir_sectors * _SECTOR // _ENTRY_SIZE - len(entries)
    out += b"".join(_pack_entry(entry) for entry in entries)
    out += _pack_entry(None) * unused_entries

    minifat_words = mini_fat + [_FREESECT] * (minifat_sectors * _IDS_PER_SECTOR - len(mini_fat))
    out += struct.pack(f"<{len(minifat_words)}I", *minifat_words)
    out += bytes(mini_data).ljust(ministream_sectors * _SECTOR, b"\x00")
    for entry in big_entries:
        out += entry.data.ljust(_sectors_for(entry.size, _SECTOR) * _SECTOR, b"\x00")
    return bytes(out)
