"""A shared set of hostile input files, generated (never checked in), for the bad-input matrix.

Each is something a biller's disk really holds where a report, a settings file or a
mapping was expected: an empty or cut-off file, NUL bytes, UTF-16 text, one huge field, a
quote never closed, a zip bomb, a folder named like a file, the portal's web page saved
instead of the CSV, a password-protected workbook (an OLE compound file holding an
`EncryptedPackage` stream, as Excel writes it), an old .xls, an OpenDocument and a binary
(.xlsb) workbook, and TOML nested thousands deep.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from xl_pmpm.workbook.vba.compound_file import write_compound_file

HEADER = "Agency Tax ID,Patient Number,Patient Name,Primary Contract"


def _zip(parts: dict[str, bytes], *, stored_first: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for k, (name, data) in enumerate(parts.items()):
            kind = zipfile.ZIP_STORED if stored_first and k == 0 else zipfile.ZIP_DEFLATED
            z.writestr(name, data, compress_type=kind)
    return out.getvalue()


def portal_page(long_line: bool = True) -> bytes:
    """The portal's page saved where the CSV should be: minified, one line longer than the
    csv module's field limit (131,072 characters)."""
    script = "var s='" + "x" * 200_000 + "';" if long_line else ""
    return (
        "<!DOCTYPE html><html><head><title>HHAeXchange</title><script>"
        + script
        + "</script></head><body><form action='/login'>Session expired, please log in."
        "</form></body></html>\n"
    ).encode()


def encrypted_workbook() -> bytes:
    """A password-protected .xlsx as Excel saves it: an OLE compound file, not a zip."""
    return write_compound_file(
        {
            "EncryptionInfo": b"\x04\x00\x04\x00\x40\x00\x00\x00" + b"\x00" * 200,
            "EncryptedPackage": b"\x00\x10\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 20,
        }
    )


def old_xls() -> bytes:
    return write_compound_file({"Workbook": b"\x09\x08\x10\x00" + b"\x00" * 600})


def opendocument() -> bytes:
    return _zip(
        {
            "mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
            "content.xml": b"<office:document-content/>",
            "META-INF/manifest.xml": b"<manifest/>",
        },
        stored_first=True,
    )


def binary_workbook() -> bytes:
    return _zip(
        {
            "[Content_Types].xml": b"<Types/>",
            "xl/workbook.bin": b"\x83\x01\x00" * 40,
            "xl/worksheets/sheet1.bin": b"\x81\x01\x00" * 40,
        }
    )


def zip_bomb() -> bytes:
    """A workbook-shaped zip whose sheet inflates a thousand-fold (2 MB of zeros)."""
    return _zip(
        {
            "[Content_Types].xml": b"<Types/>",
            "xl/workbook.xml": b"<workbook/>",
            "xl/worksheets/sheet1.xml": b"\x00" * 2_000_000,
        }
    )


def cut_off_workbook() -> bytes:
    """A workbook whose copy stopped half-way: the zip's directory at the end is missing."""
    data = _zip({"[Content_Types].xml": b"<Types/>" * 50, "xl/workbook.xml": b"<w/>" * 500})
    return data[: len(data) // 2]


def deep_toml() -> bytes:
    return b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"


CONTENTS = {
    "empty": lambda: b"",
    "nul-only": lambda: b"\x00" * 4096,
    "utf-16": lambda: (HEADER + "\r\n1,2,3,4\r\n").encode("utf-16"),
    "huge-field": lambda: (HEADER + "\n").encode() + b"1,2," + b"x" * 300_000 + b",4\n",
    "unclosed-quote": lambda: (HEADER + '\n1,"2,3,4\n5,6,7,8\n').encode(),
    "zip-bomb": zip_bomb,
    "web-page": portal_page,
    "json-message": lambda: b'{"error": "Unauthorized", "status": 401}\n',
    "password-workbook": encrypted_workbook,
    "old-xls": old_xls,
    "opendocument": opendocument,
    "binary-workbook": binary_workbook,
    "cut-off-workbook": cut_off_workbook,
    "deep-toml": deep_toml,
}
FOLDER = "folder"  # a folder named like a file
NAMES = [*CONTENTS, FOLDER]


def make_hostile(folder: Path, name: str, suffix: str) -> Path:
    """The hostile file `name` under `folder`, named with `suffix` (".csv", ".toml", ...)."""
    path = folder / f"{name}{suffix}"
    if name == FOLDER:
        path.mkdir(parents=True, exist_ok=True)
        (path / "inside.txt").write_text("a folder, not a file")
    else:
        path.write_bytes(CONTENTS[name]())
    return path
