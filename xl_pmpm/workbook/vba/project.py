"""Build a source-only Excel VBA project (``xl/vbaProject.bin``) from VBA source text.

The project holds no compiled p-code: ``_VBA_PROJECT`` carries version 0xFFFF and no
performance cache, so Excel compiles every module from its source on open ([MS-OVBA] 1.6).
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from xl_pmpm.workbook.vba.compound_file import write_compound_file
from xl_pmpm.workbook.vba.compression import compress, decompress

__all__ = [
    "ModuleKind",
    "VbaModule",
    "build_vba_project",
    "module_from_file",
    "normalize_module_source",
    "read_vba_modules",
]

ModuleKind = Literal["standard", "class", "document"]

DEFAULT_PROJECT_ID = "{3F6A2C1E-8B4D-4E7A-9C25-1D0B7E5A4F93}"

# _VBA_PROJECT: Reserved1 0x61CC, Version 0xFFFF (ignore caches), Reserved2 0x00,
# Reserved3 0x0001 (as in [MS-OVBA] 3.1.1 and xlwings' source-only templates).
_VBA_PROJECT_STREAM = bytes.fromhex("CC61FFFF000100")

_WORKBOOK_BASE = "0{00020819-0000-0000-C000-000000000046}"
_WORKSHEET_BASE = "0{00020820-0000-0000-C000-000000000046}"
_CLASS_BASE = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"
_DOCUMENT_BASES = {
    _WORKBOOK_BASE.upper(),
    _WORKSHEET_BASE.upper(),
    "0{00020821-0000-0000-C000-000000000046}",  # chart sheet
}

# Header attributes in the order Excel writes them into module streams.
_CLASS_HEADER = (
    ("VB_Base", f'"{_CLASS_BASE}"'),
    ("VB_GlobalNameSpace", "False"),
    ("VB_Creatable", "False"),
    ("VB_PredeclaredId", "False"),
    ("VB_Exposed", "False"),
    ("VB_TemplateDerived", "False"),
    ("VB_Customizable", "False"),
)
_DOCUMENT_HEADER = (
    ("VB_Base", None),  # filled per module: workbook or worksheet
    ("VB_GlobalNameSpace", "False"),
    ("VB_Creatable", "False"),
    ("VB_PredeclaredId", "True"),
    ("VB_Exposed", "True"),
    ("VB_TemplateDerived", "False"),
    ("VB_Customizable", "True"),
)

_HOST_EXTENDER = "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000"

# References Excel gives a new workbook besides the implicit VBA and Excel libraries.
_REFERENCES = (
    (
        "stdole",
        "*\\G{00020430-0000-0000-C000-000000000046}#2.0#0#"
        "C:\\Windows\\System32\\stdole2.tlb#OLE Automation",
    ),
    (
        "Office",
        "*\\G{2DF8D04C-5BFA-101B-BDE5-00AA0044DE52}#2.0#0#"
        "C:\\Program Files\\Common Files\\Microsoft Shared\\OFFICE16\\MSO.DLL"
        "#Microsoft Office 16.0 Object Library",
    ),
)

_SYSKIND_WIN64 = 3
_LCID_EN_US = 0x0409
# PROJECTVERSION as in xlwings' source-only templates; any value works without caches.
_VERSION_MAJOR = 0x68FBFAC5
_VERSION_MINOR = 0x0004
_ENCRYPTION_SEED = 0x8D  # fixed so output is reproducible; (seed & 6) // 2 = 2 ignored bytes
_UNPROTECTED = bytes(4)  # CMG: ProjectProtectionState, no protection flags
_NO_PASSWORD = b"\x00"  # DPB: no password
_VISIBLE = b"\xff"  # GC: project visible

_ATTRIBUTE_RE = re.compile(r"^\s*Attribute\s+(VB_\w+)\s*=\s*(.*?)\s*$", re.IGNORECASE)
_IDENTIFIER_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,30}")
_NEWLINE_RE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class VbaModule:
    """One VBA module: ``kind`` is "standard" (.bas), "class" (.cls) or "document"."""

    name: str
    source: str
    kind: ModuleKind = "standard"


def _split_lines(text: str) -> list[str]:
    text = text.removeprefix("\ufeff")
    lines = _NEWLINE_RE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _strip_class_header(lines: list[str]) -> list[str]:
    """Drop the ``VERSION 1.0 CLASS`` / ``BEGIN`` ... ``END`` block of an exported .cls."""
    if not lines or not lines[0].strip().upper().startswith("VERSION "):
        return lines
    index = 1
    if index < len(lines) and lines[index].strip().upper().startswith("BEGIN"):
        depth = 0
        while index < len(lines):
            word = lines[index].strip().split(" ", 1)[0].upper()
            if word.startswith("BEGIN"):
                depth += 1
            elif word.startswith("END"):
                depth -= 1
            index += 1
            if depth == 0:
                break
    return lines[index:]


def _split_attributes(lines: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Split leading ``Attribute VB_x = value`` lines from the code that follows."""
    attributes: list[tuple[str, str]] = []
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    while index < len(lines):
        match = _ATTRIBUTE_RE.match(lines[index])
        if not match:
            break
        attributes.append((match.group(1), match.group(2)))
        index += 1
    return attributes, lines[index:]


def normalize_module_source(module: VbaModule) -> str:
    """Return the module text as stored in its stream: CRLF lines, Excel's header attributes."""
    lines = _strip_class_header(_split_lines(module.source))
    attributes, body = _split_attributes(lines)
    given = {name.upper(): value for name, value in attributes}
    header: list[tuple[str, str]] = [("VB_Name", f'"{module.name}"')]
    if module.kind == "class":
        defaults: tuple[tuple[str, str | None], ...] = _CLASS_HEADER
    elif module.kind == "document":
        defaults = _DOCUMENT_HEADER
    else:
        defaults = ()
    for name, default in defaults:
        if name == "VB_Base" and default is None:
            is_workbook = module.name.upper() == "THISWORKBOOK"
            default = f'"{_WORKBOOK_BASE if is_workbook else _WORKSHEET_BASE}"'
        header.append((name, given.get(name.upper(), default or "")))
    known = {name.upper() for name, _ in header}
    header += [(name, value) for name, value in attributes if name.upper() not in known]
    out = [f"Attribute {name} = {value}" for name, value in header] + body
    return "".join(line + "\r\n" for line in out)


def _validate_modules(modules: Iterable[VbaModule]) -> list[VbaModule]:
    result = list(modules)
    seen: set[str] = set()
    for module in result:
        if not _IDENTIFIER_RE.fullmatch(module.name):
            raise ValueError(f"invalid VBA module name: {module.name!r}")
        if module.kind not in ("standard", "class", "document"):
            raise ValueError(f"unknown module kind for {module.name}: {module.kind!r}")
        if module.name.upper() in seen:
            raise ValueError(f"duplicate VBA module name: {module.name!r}")
        seen.add(module.name.upper())
    return result


def _encrypt(project_id: str, data: bytes, encoding: str) -> str:
    """[MS-OVBA] 2.4.3.2 data encryption (obfuscation) with a fixed seed, as hex."""
    seed = _ENCRYPTION_SEED
    version = 2
    project_key = sum(project_id.encode(encoding)) & 0xFF
    out = bytearray([seed, seed ^ version, seed ^ project_key])
    unencrypted_1 = project_key
    encrypted_1 = out[2]
    encrypted_2 = out[1]
    ignored = bytes((seed & 6) // 2)
    for byte in ignored + struct.pack("<I", len(data)) + data:
        byte_enc = byte ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        out.append(byte_enc)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, byte_enc, byte
    return out.hex().upper()


def _project_stream(
    modules: list[VbaModule], project_name: str, project_id: str, encoding: str
) -> bytes:
    lines = [f'ID="{project_id}"']
    for module in modules:
        if module.kind == "document":
            lines.append(f"Document={module.name}/&H00000000")
        elif module.kind == "class":
            lines.append(f"Class={module.name}")
        else:
            lines.append(f"Module={module.name}")
    lines += [
        f'Name="{project_name}"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
        # Unprotected, no password, visible: ([MS-OVBA] 2.3.1.15-2.3.1.17).
        f'CMG="{_encrypt(project_id, _UNPROTECTED, encoding)}"',
        f'DPB="{_encrypt(project_id, _NO_PASSWORD, encoding)}"',
        f'GC="{_encrypt(project_id, _VISIBLE, encoding)}"',
        "",
        "[Host Extender Info]",
        _HOST_EXTENDER,
        "",
        "[Workspace]",
    ]
    lines += [f"{module.name}=0, 0, 0, 0, C" for module in modules]
    return "".join(line + "\r\n" for line in lines).encode(encoding)


def _project_wm_stream(modules: list[VbaModule], encoding: str) -> bytes:
    parts = [
        module.name.encode(encoding) + b"\x00" + module.name.encode("utf-16-le") + b"\x00\x00"
        for module in modules
    ]
    return b"".join(parts) + b"\x00\x00"


def _record(record_id: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HI", record_id, len(payload)) + payload


def _dir_stream(
    modules: list[VbaModule], project_name: str, code_page: int, encoding: str
) -> bytes:
    out = bytearray()
    out += _record(0x0001, struct.pack("<I", _SYSKIND_WIN64))  # PROJECTSYSKIND
    out += _record(0x0002, struct.pack("<I", _LCID_EN_US))  # PROJECTLCID
    out += _record(0x0014, struct.pack("<I", _LCID_EN_US))  # PROJECTLCIDINVOKE
    out += _record(0x0003, struct.pack("<H", code_page))  # PROJECTCODEPAGE
    out += _record(0x0004, project_name.encode(encoding))  # PROJECTNAME
    out += _record(0x0005) + _record(0x0040)  # PROJECTDOCSTRING (+ Unicode)
    out += _record(0x0006) + _record(0x003D)  # PROJECTHELPFILEPATH (+ second path)
    out += _record(0x0007, struct.pack("<I", 0))  # PROJECTHELPCONTEXT
    out += _record(0x0008, struct.pack("<I", 0))  # PROJECTLIBFLAGS
    # PROJECTVERSION: its 4-byte "size" field is a reserved constant 4, then 6 data bytes.
    out += struct.pack("<HIIH", 0x0009, 4, _VERSION_MAJOR, _VERSION_MINOR)
    out += _record(0x000C) + _record(0x003C)  # PROJECTCONSTANTS (+ Unicode)
    for name, libid in _REFERENCES:
        out += _record(0x0016, name.encode(encoding))  # REFERENCENAME
        out += _record(0x003E, name.encode("utf-16-le"))
        libid_bytes = libid.encode(encoding)
        payload = struct.pack("<I", len(libid_bytes)) + libid_bytes + struct.pack("<IH", 0, 0)
        out += _record(0x000D, payload)  # REFERENCEREGISTERED
    out += _record(0x000F, struct.pack("<H", len(modules)))  # PROJECTMODULES
    out += _record(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for module in modules:
        encoded = module.name.encode(encoding)
        name_unicode = module.name.encode("utf-16-le")
        out += _record(0x0019, encoded) + _record(0x0047, name_unicode)  # MODULENAME
        out += _record(0x001A, encoded) + _record(0x0032, name_unicode)  # MODULESTREAMNAME
        out += _record(0x001C) + _record(0x0048)  # MODULEDOCSTRING
        out += _record(0x0031, struct.pack("<I", 0))  # MODULEOFFSET: source starts at 0
        out += _record(0x001E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
        out += _record(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        out += _record(0x0021 if module.kind == "standard" else 0x0022)  # MODULETYPE
        out += _record(0x002B)  # module terminator
    out += _record(0x0010)  # dir terminator
    return bytes(out)


def build_vba_project(
    modules: list[VbaModule],
    project_name: str = "VBAProject",
    code_page: int = 1252,
    project_id: str = DEFAULT_PROJECT_ID,
) -> bytes:
    """Return the bytes of a source-only ``vbaProject.bin`` holding ``modules``.

    Pass a "document" module for ThisWorkbook and for each worksheet code name.
    """
    encoding = f"cp{code_page}"
    checked = _validate_modules(modules)
    if not _IDENTIFIER_RE.fullmatch(project_name):
        raise ValueError(f"invalid VBA project name: {project_name!r}")
    streams: dict[str, bytes] = {
        "PROJECT": _project_stream(checked, project_name, project_id, encoding),
        "PROJECTwm": _project_wm_stream(checked, encoding),
        "VBA/_VBA_PROJECT": _VBA_PROJECT_STREAM,
        "VBA/dir": compress(_dir_stream(checked, project_name, code_page, encoding)),
    }
    for module in checked:
        text = normalize_module_source(module)
        try:
            encoded = text.encode(encoding)
        except UnicodeEncodeError as exc:
            raise ValueError(f"module {module.name} is not representable in {encoding}") from exc
        streams[f"VBA/{module.name}"] = compress(encoded)
    return write_compound_file(streams)


def _parse_dir(dir_data: bytes) -> tuple[int, list[tuple[str, str, int]]]:
    """Return (code page, [(module name, stream name, text offset)]) from a dir stream."""
    code_page = 1252
    modules: list[tuple[str, str, int]] = []
    name = stream = b""
    offset = 0
    pos = 0
    while pos + 6 <= len(dir_data):
        record_id, size = struct.unpack_from("<HI", dir_data, pos)
        if record_id == 0x0009:  # PROJECTVERSION: size field is reserved, 6 data bytes
            size = 6
        payload = dir_data[pos + 6 : pos + 6 + size]
        pos += 6 + size
        if record_id == 0x0003:
            code_page = struct.unpack("<H", payload)[0]
        elif record_id == 0x0019:
            name = stream = payload
            offset = 0
        elif record_id == 0x001A:
            stream = payload
        elif record_id == 0x0031:
            offset = struct.unpack("<I", payload)[0]
        elif record_id == 0x002B:
            encoding = f"cp{code_page}"
            modules.append((name.decode(encoding), stream.decode(encoding), offset))
        elif record_id == 0x0010:
            break
    return code_page, modules


def read_vba_modules(data: bytes) -> dict[str, str]:
    """Return {module name: source text} of a vbaProject.bin, text as stored (CRLF)."""
    import olefile  # a reader for checks: the plain install builds, it need not read

    ole = olefile.OleFileIO(io.BytesIO(data))
    try:
        code_page, modules = _parse_dir(decompress(ole.openstream("VBA/dir").read()))
        result: dict[str, str] = {}
        for name, stream, offset in modules:
            compressed = ole.openstream(f"VBA/{stream}").read()[offset:]
            result[name] = decompress(compressed).decode(f"cp{code_page}")
        return result
    finally:
        ole.close()


def module_from_file(
    path: str | Path, kind: ModuleKind | None = None, encoding: str = "cp1252"
) -> VbaModule:
    """Load an exported ``.bas`` / ``.cls`` file; name from ``Attribute VB_Name``."""
    path = Path(path)
    source = path.read_bytes().decode(encoding)
    lines = _strip_class_header(_split_lines(source))
    attributes = dict((key.upper(), value) for key, value in _split_attributes(lines)[0])
    name = attributes.get("VB_NAME", "").strip('"') or path.stem
    if kind is None:
        if path.suffix.lower() == ".cls":
            base = attributes.get("VB_BASE", "").strip('"').upper()
            kind = "document" if base in _DOCUMENT_BASES else "class"
        else:
            kind = "standard"
    return VbaModule(name=name, source=source, kind=kind)
