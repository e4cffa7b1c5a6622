"""Tests for the source-only VBA project writer (xl_pmpm.workbook.vba)."""

from __future__ import annotations

import io
import random
import re
import shutil
import struct
import subprocess
import warnings
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import olefile
import openpyxl
import pytest
import xlwings
from hypothesis import given, settings
from hypothesis import strategies as st

from xl_pmpm.workbook.vba.compound_file import write_compound_file
from xl_pmpm.workbook.vba.compression import compress, decompress
from xl_pmpm.workbook.vba.project import (
    DEFAULT_PROJECT_ID,
    VbaModule,
    build_vba_project,
    module_from_file,
    normalize_module_source,
    read_vba_modules,
)

with warnings.catch_warnings():
    # oletools 0.60 uses pyparsing APIs that warn on import.
    warnings.simplefilter("ignore", DeprecationWarning)
    from oletools.olevba import VBA_Parser, decompress_stream

XLWINGS_DIR = Path(xlwings.__file__).parent
XLWINGS_BAS = XLWINGS_DIR / "xlwings.bas"
DICTIONARY_CLS = XLWINGS_DIR / "addin" / "Dictionary.cls"

CHUNK = 4096


# --------------------------------------------------------------------------- helpers


def _lines(text: str) -> list[str]:
    """Split on any line ending, dropping one trailing empty line."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _code_lines(text: str) -> list[str]:
    """Source lines without the .cls VERSION/BEGIN..END header and without Attribute lines."""
    lines = _lines(text)
    if lines and lines[0].startswith("VERSION "):
        end = lines.index("END")
        lines = lines[end + 1 :]
    return [line for line in lines if not line.startswith("Attribute ")]


def _bit_count(position: int) -> int:
    bits = 4
    while (1 << bits) < position:
        bits += 1
    return bits


def _copy_tokens(container: bytes) -> list[tuple[int, int, int]]:
    """Walk a compressed container; return (position in chunk, offset, length) per CopyToken."""
    tokens = []
    pos = 1
    while pos < len(container):
        header = int.from_bytes(container[pos : pos + 2], "little")
        end = pos + (header & 0x0FFF) + 3
        pos += 2
        if not header & 0x8000:
            pos = end
            continue
        produced = 0
        while pos < end:
            flags = container[pos]
            pos += 1
            for bit in range(8):
                if pos >= end:
                    break
                if flags >> bit & 1:
                    token = int.from_bytes(container[pos : pos + 2], "little")
                    bits = _bit_count(produced)
                    length = (token & (0xFFFF >> bits)) + 3
                    offset = (token >> (16 - bits)) + 1
                    tokens.append((produced, offset, length))
                    produced += length
                    pos += 2
                else:
                    produced += 1
                    pos += 1
    return tokens


def _last_chunk_is_raw(container: bytes) -> bool:
    pos = 1
    raw = False
    while pos < len(container):
        header = int.from_bytes(container[pos : pos + 2], "little")
        raw = not header & 0x8000
        pos += 2 + (header & 0x0FFF) + 1
    return raw


def _expected_roundtrip(data: bytes, container: bytes) -> bytes:
    """[MS-OVBA] raw chunks always hold 4096 bytes, so a raw final chunk is zero-padded."""
    if data and _last_chunk_is_raw(container):
        return data.ljust(-(-len(data) // CHUNK) * CHUNK, b"\x00")
    return data


def _decrypt(hex_text: str) -> tuple[int, int, bytes]:
    """[MS-OVBA] 2.4.3.3 decryption: return (version, project key, data)."""
    raw = bytes.fromhex(hex_text)
    seed = raw[0]
    version = raw[1] ^ seed
    project_key = raw[2] ^ seed
    unencrypted_1, encrypted_1, encrypted_2 = project_key, raw[2], raw[1]
    plain = bytearray()
    for byte_enc in raw[3:]:
        byte = byte_enc ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        plain.append(byte)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, byte_enc, byte
    ignored = (seed & 6) // 2
    length = struct.unpack("<I", plain[ignored : ignored + 4])[0]
    data = bytes(plain[ignored + 4 :])
    assert len(data) == length
    return version, project_key, data


def _dir_records(project: bytes) -> list[tuple[int, bytes]]:
    ole = olefile.OleFileIO(io.BytesIO(project))
    data = decompress(ole.openstream("VBA/dir").read())
    records = []
    pos = 0
    while pos < len(data):
        record_id, size = struct.unpack_from("<HI", data, pos)
        if record_id == 0x0009:
            size = 6
        records.append((record_id, data[pos + 6 : pos + 6 + size]))
        pos += 6 + size
    return records


def _ole_streams(data: bytes) -> dict[str, bytes]:
    assert olefile.isOleFile(io.BytesIO(data))
    ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    try:
        return {"/".join(path): ole.openstream(path).read() for path in ole.listdir()}
    finally:
        ole.close()


def _check_red_black(ole: olefile.OleFileIO, sid: int) -> tuple[int, list[str]]:
    """Return (black height, in-order names) of the sibling tree rooted at ``sid``."""
    if sid == olefile.NOSTREAM:
        return 1, []
    entry = ole.direntries[sid]
    left_height, left_names = _check_red_black(ole, entry.sid_left)
    right_height, right_names = _check_red_black(ole, entry.sid_right)
    assert left_height == right_height, f"unequal black heights below {entry.name}"
    if entry.color == 0:  # red: children must be black
        for child in (entry.sid_left, entry.sid_right):
            assert child == olefile.NOSTREAM or ole.direntries[child].color == 1
    return left_height + entry.color, left_names + [entry.name] + right_names


def _cfb_key(name: str) -> tuple[int, str]:
    return len(name), name.upper()


def _sample_modules() -> list[VbaModule]:
    return [
        VbaModule(
            "ThisWorkbook",
            'Option Explicit\n\nPrivate Sub Workbook_Open()\n    Sheet1.Range("A1").Value = 1\n'
            "End Sub\n",
            "document",
        ),
        VbaModule("Sheet1", "Option Explicit\r\n", "document"),
        module_from_file(XLWINGS_BAS),
        module_from_file(DICTIONARY_CLS),
        VbaModule(
            "Helpers",
            "Option Explicit\n\nPublic Function Twice(ByVal x As Double) As Double\n"
            "    Twice = 2 * x ' caf\u00e9 \u20ac\nEnd Function\n",
            "standard",
        ),
    ]


def _build_xlsm(vba_project: bytes, path: Path) -> None:
    """Minimal macro-enabled workbook: openpyxl's workbook plus the VBA part."""
    workbook = openpyxl.Workbook()
    workbook.code_name = "ThisWorkbook"
    workbook.active.sheet_properties.codeName = "Sheet1"
    buffer = io.BytesIO()
    workbook.save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name in source.namelist():
            data = source.read(name)
            if name == "[Content_Types].xml":
                data = data.replace(
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                )
                data = data.replace(
                    b"<Default ",
                    b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"'
                    b" /><Default ",
                    1,
                )
            elif name == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdVba" Target="vbaProject.bin" Type="http://schemas.'
                    b'microsoft.com/office/2006/relationships/vbaProject" /></Relationships>',
                )
            out.writestr(name, data)
        out.writestr("xl/vbaProject.bin", vba_project)


# --------------------------------------------------------------------------- compression


def test_spec_example_no_compression() -> None:
    # [MS-OVBA] 3.2.1
    data = b"abcdefghijklmnopqrstuv."
    expected = bytes.fromhex(
        "01 19 B0 00 61 62 63 64 65 66 67 68 00 69 6A 6B 6C 6D 6E 6F 70 00 71 72 73 74 75 76 2E"
    )
    assert compress(data) == expected
    assert decompress(expected) == data


def test_spec_example_normal_compression() -> None:
    # [MS-OVBA] 3.2.2
    data = b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"
    expected = bytes.fromhex(
        "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C"
        " 00 20 6D 6E 6F 70 06 71 02 70 04 00 72 73 74 75 76 10 77 78 79 7A 00 2C"
    )
    assert compress(data) == expected
    assert decompress(expected) == data


def test_spec_example_maximum_compression() -> None:
    # [MS-OVBA] 3.2.3
    data = b"a" * 73
    expected = bytes.fromhex("01 03 B0 02 61 45 00")
    assert compress(data) == expected
    assert decompress(expected) == data


SIZES = [0, 1, 2, 3, 8, 9, 100, 4095, 4096, 4097, 8191, 8192, 8193, 3 * CHUNK + 17, 40_000]


def _structured(size: int) -> bytes:
    words = [b"Dim", b" x", b" As", b" Long", b"\r\n", b"    ", b"End Sub", b"If", b" Then", b"'"]
    rng = random.Random(size)
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words)
    return bytes(out[:size])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "kind", ["structured", "run_a", "run_zero", "period_3", "period_700", "random"]
)
def test_compression_roundtrip(kind: str, size: int) -> None:
    rng = random.Random(size * 7 + len(kind))
    if kind == "structured":
        data = _structured(size)
    elif kind == "run_a":
        data = b"a" * size
    elif kind == "run_zero":
        data = bytes(size)
    elif kind == "period_3":
        data = (b"abc" * (size // 3 + 1))[:size]
    elif kind == "period_700":
        block = bytes(rng.getrandbits(8) for _ in range(700))
        data = (block * (size // 700 + 1))[:size]
    else:
        data = bytes(rng.getrandbits(8) for _ in range(size))
    container = compress(data)
    expected = _expected_roundtrip(data, container)
    assert decompress(container) == expected
    # Independent decompressor (oletools) agrees.
    assert bytes(decompress_stream(bytearray(container))) == expected
    if kind != "random":
        assert expected == data
        if size >= (2000 if kind == "period_700" else 100):
            assert len(container) < len(data)
    assert compress(data) == container


def test_incompressible_chunks_are_stored_raw() -> None:
    rng = random.Random(4)
    data = bytes(rng.getrandbits(8) for _ in range(2 * CHUNK))
    container = compress(data)
    assert len(container) == 1 + 2 * (2 + CHUNK)
    assert container[1:3] == b"\xff\x3f"  # size 4098, signature 0b011, flag 0
    assert decompress(container) == data


def test_raw_final_chunk_is_zero_padded_per_spec() -> None:
    rng = random.Random(5)
    data = bytes(rng.getrandbits(8) for _ in range(CHUNK - 1))
    container = compress(data)
    assert _last_chunk_is_raw(container)
    assert decompress(container) == data + b"\x00"


def test_copy_tokens_use_position_dependent_maximum_length() -> None:
    rng = random.Random(6)
    block = bytes(rng.getrandbits(8) for _ in range(600))
    data = block * 6 + block[:400]  # 4000 bytes, one chunk
    tokens = _copy_tokens(compress(data))
    assert tokens, "repeated data must produce copy tokens"
    for position, offset, length in tokens:
        maximum = (0xFFFF >> _bit_count(position)) + 3
        assert length == min(maximum, len(data) - position), (position, length, maximum)
        assert offset == 600
    # At 600..1023 bytes into a chunk, 10 offset bits leave 6 length bits: 66 bytes max.
    assert tokens[0] == (600, 600, 66)


def test_matches_never_cross_chunk_boundaries() -> None:
    data = _structured(CHUNK * 3)
    for position, offset, _length in _copy_tokens(compress(data)):
        assert offset <= position


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=9000)
    | st.lists(st.sampled_from([b"ab", b"\r\n", b"    ", b"x"]), max_size=3000).map(b"".join)
)
def test_compression_roundtrip_property(data: bytes) -> None:
    container = compress(data)
    assert decompress(container) == _expected_roundtrip(data, container)


def test_decompress_rejects_bad_signature() -> None:
    with pytest.raises(ValueError):
        decompress(b"\x02\x00\x00")
    with pytest.raises(ValueError):
        decompress(b"\x01\x00\x00")  # chunk signature bits are not 0b011


# --------------------------------------------------------------------------- compound file


def test_compound_file_small_streams() -> None:
    streams = {
        "PROJECT": b'ID="{x}"\r\n',
        "PROJECTwm": b"\x00\x00",
        "VBA/_VBA_PROJECT": bytes.fromhex("CC61FFFF000100"),
        "VBA/dir": b"d" * 700,
        "VBA/Module1": b"m" * 4095,  # largest mini-stream stream
        "VBA/Module2": b"n" * 4096,  # smallest regular stream
        "VBA/Empty": b"",
    }
    data = write_compound_file(streams)
    assert len(data) % 512 == 0
    assert _ole_streams(data) == streams


def test_compound_file_large_streams() -> None:
    rng = random.Random(7)
    big = bytes(rng.getrandbits(8) for _ in range(2 * 1024 * 1024 + 123))
    streams = {"VBA/Big": big, "VBA/Small": b"s" * 10, "PROJECT": b"p" * 5000}
    data = write_compound_file(streams)
    assert _ole_streams(data) == streams
    header = struct.unpack_from("<I", data, 0x2C)[0]  # number of FAT sectors
    assert header > 1


def test_compound_file_needing_difat_sectors() -> None:
    # 110+ FAT sectors (> 7 MB) need DIFAT sectors beyond the header's 109 slots.
    streams = {"Huge": bytes(range(256)) * (9 * 4096), "Tiny": b"t"}
    data = write_compound_file(streams)
    assert struct.unpack_from("<I", data, 0x48)[0] >= 1  # number of DIFAT sectors
    assert _ole_streams(data) == streams


def test_compound_file_directory_is_red_black_and_sorted() -> None:
    names = [f"M{'x' * (i % 7)}{i}" for i in range(100)] + ["a", "B", "ccc", "Dd"]
    streams = {f"VBA/{name}": name.encode() for name in names}
    streams["PROJECT"] = b"p"
    data = write_compound_file(streams)
    assert _ole_streams(data) == streams
    ole = olefile.OleFileIO(io.BytesIO(data))
    root = ole.direntries[0]
    storages = [entry for entry in ole.direntries if entry is not None and entry.kids]
    assert root in storages and len(storages) == 2
    for storage in storages:
        top = ole.direntries[storage.sid_child]
        assert top.color == 1, "tree root must be black"
        _height, in_order = _check_red_black(ole, storage.sid_child)
        keys = [_cfb_key(name) for name in in_order]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
    for entry in ole.direntries:
        if entry is not None:
            assert entry.createTime == 0 and entry.modifyTime == 0
            assert entry.clsid == ""
            if entry.entry_type == olefile.STGTY_STORAGE:
                assert (entry.isectStart, entry.size) == (0, 0)


@pytest.mark.parametrize("count", range(1, 40))
def test_compound_file_tree_colouring_for_every_size(count: int) -> None:
    streams = {f"S{i:03d}": b"x" for i in range(count)}
    ole = olefile.OleFileIO(io.BytesIO(write_compound_file(streams)))
    top = ole.direntries[ole.direntries[0].sid_child]
    assert top.color == 1
    _height, in_order = _check_red_black(ole, ole.direntries[0].sid_child)
    assert in_order == sorted(streams)


def test_compound_file_is_deterministic() -> None:
    streams = {"B": b"2" * 5000, "A/x": b"1", "A/y": b"3" * 100}
    reordered = dict(reversed(list(streams.items())))
    assert write_compound_file(streams) == write_compound_file(reordered)


def test_compound_file_rejects_bad_names() -> None:
    with pytest.raises(ValueError):
        write_compound_file({"x" * 32: b""})
    with pytest.raises(ValueError):
        write_compound_file({"a:b": b""})
    with pytest.raises(ValueError):
        write_compound_file({"A": b"", "A/B": b""})


# --------------------------------------------------------------------------- project


def test_project_read_back_by_olevba() -> None:
    modules = _sample_modules()
    project = build_vba_project(modules)
    parser = VBA_Parser("vbaProject.bin", data=project)
    assert parser.detect_vba_macros()
    extracted = {
        stream.split("/")[-1]: code for _file, stream, _name, code in parser.extract_macros()
    }
    parser.close()
    assert set(extracted) == {module.name for module in modules}
    for module in modules:
        code = extracted[module.name]
        # olevba returns the stream text as stored: CRLF, header Attribute lines included.
        assert code == normalize_module_source(module)
        assert "\r\n" in code and "\n" not in code.replace("\r\n", "")
        assert _code_lines(code) == _code_lines(module.source)
        assert sum(line.startswith("Attribute VB_Name") for line in _lines(code)) == 1
        assert code.startswith(f'Attribute VB_Name = "{module.name}"\r\n')


def test_read_vba_modules_matches_input() -> None:
    modules = _sample_modules()
    project = build_vba_project(modules)
    assert read_vba_modules(project) == {
        module.name: normalize_module_source(module) for module in modules
    }


def test_class_module_header_from_exported_cls() -> None:
    module = module_from_file(DICTIONARY_CLS)
    assert (module.name, module.kind) == ("Dictionary", "class")
    lines = _lines(normalize_module_source(module))
    assert lines[:8] == [
        'Attribute VB_Name = "Dictionary"',
        'Attribute VB_Base = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"',
        "Attribute VB_GlobalNameSpace = False",
        "Attribute VB_Creatable = False",
        "Attribute VB_PredeclaredId = False",
        "Attribute VB_Exposed = True",  # kept from the .cls
        "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = False",
    ]
    assert lines[8].startswith("Attribute VB_Description = ")
    assert not any(line.startswith(("VERSION ", "BEGIN", "END")) for line in lines[:12])
    assert "  MultiUse = -1  'True" not in lines


def test_plain_class_source_gets_default_header() -> None:
    text = normalize_module_source(VbaModule("Counter", "Private n As Long\n", "class"))
    assert text == (
        'Attribute VB_Name = "Counter"\r\n'
        'Attribute VB_Base = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"\r\n'
        "Attribute VB_GlobalNameSpace = False\r\n"
        "Attribute VB_Creatable = False\r\n"
        "Attribute VB_PredeclaredId = False\r\n"
        "Attribute VB_Exposed = False\r\n"
        "Attribute VB_TemplateDerived = False\r\n"
        "Attribute VB_Customizable = False\r\n"
        "Private n As Long\r\n"
    )


def test_document_module_headers() -> None:
    workbook = _lines(normalize_module_source(VbaModule("ThisWorkbook", "", "document")))
    sheet = _lines(normalize_module_source(VbaModule("Sheet1", "", "document")))
    assert workbook[1] == 'Attribute VB_Base = "0{00020819-0000-0000-C000-000000000046}"'
    assert sheet[1] == 'Attribute VB_Base = "0{00020820-0000-0000-C000-000000000046}"'
    for lines in (workbook, sheet):
        assert "Attribute VB_PredeclaredId = True" in lines
        assert "Attribute VB_Exposed = True" in lines
        assert "Attribute VB_Customizable = True" in lines


def test_standard_module_vb_name_not_duplicated() -> None:
    plain = normalize_module_source(VbaModule("Tools", "Sub A()\nEnd Sub"))
    assert plain == 'Attribute VB_Name = "Tools"\r\nSub A()\r\nEnd Sub\r\n'
    renamed = normalize_module_source(
        VbaModule("Tools", '\r\nAttribute VB_Name = "Old"\r\nSub A()\r\nEnd Sub\r\n')
    )
    assert renamed == plain


def test_module_from_file_kinds(tmp_path: Path) -> None:
    bas = tmp_path / "NoName.bas"
    bas.write_bytes(b"Sub A()\r\nEnd Sub\r\n")
    assert module_from_file(bas) == VbaModule("NoName", "Sub A()\r\nEnd Sub\r\n", "standard")
    sheet = tmp_path / "Sheet2.cls"
    sheet.write_bytes(
        b"VERSION 1.0 CLASS\r\nBEGIN\r\n  MultiUse = -1  'True\r\nEND\r\n"
        b'Attribute VB_Name = "Sheet2"\r\n'
        b'Attribute VB_Base = "0{00020820-0000-0000-C000-000000000046}"\r\n'
        b"Attribute VB_PredeclaredId = True\r\n"
    )
    assert module_from_file(sheet).kind == "document"
    assert module_from_file(sheet).name == "Sheet2"
    assert module_from_file(XLWINGS_BAS).kind == "standard"


def test_project_stream_and_metadata() -> None:
    modules = _sample_modules()
    project = build_vba_project(modules)
    streams = _ole_streams(project)
    assert set(streams) == {
        "PROJECT",
        "PROJECTwm",
        "VBA/_VBA_PROJECT",
        "VBA/dir",
        *(f"VBA/{module.name}" for module in modules),
    }
    assert streams["VBA/_VBA_PROJECT"] == bytes.fromhex("CC61FFFF000100")
    text = streams["PROJECT"].decode("cp1252")
    lines = text.split("\r\n")
    assert lines[:6] == [
        f'ID="{DEFAULT_PROJECT_ID}"',
        "Document=ThisWorkbook/&H00000000",
        "Document=Sheet1/&H00000000",
        "Module=xlwings",
        "Class=Dictionary",
        "Module=Helpers",
    ]
    assert lines[6:9] == [
        'Name="VBAProject"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
    ]
    values = dict(line.split("=", 1) for line in lines[9:12])
    project_key = sum(DEFAULT_PROJECT_ID.encode()) & 0xFF
    assert _decrypt(values["CMG"].strip('"')) == (2, project_key, bytes(4))
    assert _decrypt(values["DPB"].strip('"')) == (2, project_key, b"\x00")
    assert _decrypt(values["GC"].strip('"')) == (2, project_key, b"\xff")
    assert (
        "\r\n\r\n[Host Extender Info]\r\n&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};"
        "VBE;&H00000000\r\n\r\n[Workspace]\r\n" in text
    )
    assert "ThisWorkbook=0, 0, 0, 0, C\r\n" in text and text.endswith("Helpers=0, 0, 0, 0, C\r\n")
    wm = b"".join(
        m.name.encode() + b"\x00" + m.name.encode("utf-16-le") + b"\x00\x00" for m in modules
    )
    assert streams["PROJECTwm"] == wm + b"\x00\x00"


def test_dir_stream_records() -> None:
    modules = _sample_modules()
    records = _dir_records(build_vba_project(modules))
    ids = [record_id for record_id, _ in records]
    by_id = {record_id: payload for record_id, payload in records}
    assert ids[:4] == [0x0001, 0x0002, 0x0014, 0x0003]
    assert struct.unpack("<H", by_id[0x0003])[0] == 1252
    assert by_id[0x0004] == b"VBAProject"
    assert struct.unpack("<H", by_id[0x000F])[0] == len(modules)
    assert ids[-1] == 0x0010
    names = [payload.decode() for record_id, payload in records if record_id == 0x0019]
    assert names == [module.name for module in modules]
    offsets = [payload for record_id, payload in records if record_id == 0x0031]
    assert offsets == [bytes(4)] * len(modules)
    types = [record_id for record_id, _ in records if record_id in (0x0021, 0x0022)]
    expected = [0x0021 if module.kind == "standard" else 0x0022 for module in modules]
    assert types == expected


def test_build_is_byte_identical() -> None:
    assert build_vba_project(_sample_modules()) == build_vba_project(_sample_modules())


def test_code_page_encoding() -> None:
    module = VbaModule("Text", "' caf\u00e9 \u20ac 100\n")
    project = build_vba_project([module])
    ole = olefile.OleFileIO(io.BytesIO(project))
    raw = decompress(ole.openstream("VBA/Text").read())
    assert "caf\u00e9 \u20ac".encode("cp1252") in raw
    assert read_vba_modules(project)["Text"].endswith("' caf\u00e9 \u20ac 100\r\n")
    with pytest.raises(ValueError, match="cp1252"):
        build_vba_project([VbaModule("Bad", "' \u2713\n")])


@pytest.mark.parametrize(
    "modules",
    [
        [VbaModule("1abc", "")],
        [VbaModule("has space", "")],
        [VbaModule("A" * 32, "")],
        [VbaModule("Same", ""), VbaModule("SAME", "", "class")],
    ],
)
def test_invalid_modules_rejected(modules: list[VbaModule]) -> None:
    with pytest.raises(ValueError):
        build_vba_project(modules)


def test_large_project_roundtrip() -> None:
    body = XLWINGS_BAS.read_text(encoding="cp1252")
    modules = [VbaModule("ThisWorkbook", "", "document")]
    modules += [VbaModule(f"Big{i:02d}", body) for i in range(50)]  # > 2 MB of source
    assert sum(len(module.source) for module in modules) > 2 * 1024 * 1024
    project = build_vba_project(modules)
    assert len(project) > 512 * 1024
    read_back = read_vba_modules(project)
    assert sum(len(text) for text in read_back.values()) > 2 * 1024 * 1024
    for module in modules:
        assert read_back[module.name] == normalize_module_source(module)
    parser = VBA_Parser("vbaProject.bin", data=project)
    assert len(list(parser.extract_macros())) == len(modules)
    parser.close()


# --------------------------------------------------------------------------- LibreOffice


def _libreoffice_module_lines(text: str) -> list[str]:
    """Drop what LibreOffice prepends to imported VBA modules."""
    lines = _lines(text)
    while lines and (
        lines[0].startswith("Rem Attribute VBA_ModuleType=")
        or lines[0] in ("Option VBASupport 1", "Option ClassModule")
    ):
        lines.pop(0)
    while lines and lines[-1] == "":
        lines.pop()
    return lines


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) not on PATH")
def test_libreoffice_imports_module_sources(tmp_path: Path) -> None:
    modules = _sample_modules()
    xlsm = tmp_path / "macros.xlsm"
    _build_xlsm(build_vba_project(modules), xlsm)
    out_dir = tmp_path / "out"
    result = subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            "ods",
            "--outdir",
            str(out_dir),
            str(xlsm),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    ods = out_dir / "macros.ods"
    assert ods.exists(), result.stdout + result.stderr
    module_type = {"standard": "normal", "class": "class", "document": "document"}
    with zipfile.ZipFile(ods) as archive:
        library = archive.read("Basic/VBAProject/script-lb.xml").decode()
        for module in modules:
            assert f'library:name="{module.name}"' in library
            root = ET.fromstring(archive.read(f"Basic/VBAProject/{module.name}.xml"))
            namespace = "{http://openoffice.org/2000/script}"
            assert root.get(f"{namespace}name") == module.name
            assert root.get(f"{namespace}moduleType") == module_type[module.kind]
            imported = _libreoffice_module_lines(root.text or "")
            expected = _code_lines(module.source)
            while expected and expected[-1] == "":
                expected.pop()
            assert imported, f"{module.name} imported empty"
            assert imported == expected
