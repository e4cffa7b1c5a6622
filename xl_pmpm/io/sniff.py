"""What an input file is, when it is not what the command expected (issue 27).

Every file a command reads comes in through `read_input` (a report, a visits file, the
rate table, the payer settings, a layout or mapping TOML, an archive record, an import
results file) and a ledger file through `check_ledger_file`. A file that is not what was
expected is said by what it is, with the fix, as a PmpmInputError (exit 2): a web page
(the portal's page saved where the report should be), a password-protected workbook
(an OLE compound file with an `EncryptedPackage` stream), an old .xls, an OpenDocument
or binary (.xlsb) workbook, a zip cut off half-way, an empty file, a PDF, ...

Sizes are limited before any parser sees the bytes: a settings file over
MAX_SETTINGS_BYTES, a line over MAX_LINE_CHARS (a CSV parser, and Python's csv module
above all, refuses a field over 131,072 characters with an error that is no message).
"""

from __future__ import annotations

import io
import re
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xl_pmpm.core.errors import PmpmInputError

# A settings file (rates, payers, layout, mapping) is a few kilobytes.
MAX_SETTINGS_BYTES = 10_000_000
# No line of a CSV any command reads is near this long: a tier report's line is a few
# hundred characters, a visit's fewer. Longer is another kind of file (a web page's
# minified script) or one that lost its line ends.
MAX_LINE_CHARS = 100_000
# How deep a TOML file may nest arrays and tables (the bundled ones nest two deep).
MAX_TOML_DEPTH = 50

SAVE_AS_CSV = "In Excel use File > Save As > CSV UTF-8 (Comma delimited), and give that file."
_OLE = bytes.fromhex("D0CF11E0A1B11AE1")
_SQLITE = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Kind:
    """What a file is: `code` (stable, for tests and JSON), `what` (said to the biller),
    `fix` (what to do)."""

    code: str
    what: str
    fix: str


def _ole_kind(data: bytes) -> Kind:
    """An OLE compound file by the names of its streams (UTF-16 in its directory)."""

    def has(name: str) -> bool:
        return name.encode("utf-16-le") in data

    if has("EncryptedPackage"):
        return Kind(
            "password-workbook",
            "a password-protected Excel workbook (encrypted: no program can read it "
            "without the password)",
            "Open it in Excel with its password, then File > Save As > CSV UTF-8 (or "
            "File > Info > Protect Workbook > Encrypt with Password, clear the password, "
            "and save), and give that file.",
        )
    if has("Workbook") or has("Book"):
        return Kind(
            "old-xls",
            "an old-style Excel workbook (.xls, Excel 97-2003)",
            "Open it in Excel and use File > Save As > CSV UTF-8 (or Excel Workbook .xlsx).",
        )
    if has("WordDocument"):
        return Kind("word", "a Word document (.doc)", SAVE_AS_CSV)
    return Kind(
        "ole", "an Office file of the old binary kind (not a workbook xl-pmpm reads)", SAVE_AS_CSV
    )


def _zip_kind(data: bytes) -> Kind:
    """A zip by its parts (the central directory only: nothing is inflated)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            mimetype = b""
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
                mimetype = archive.read("mimetype")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return Kind(
            "cut-off",
            "a zip file (a workbook?) that is cut off or damaged: its copy or download "
            "did not finish",
            "Download or copy it again (wait for the download or OneDrive sync to finish), "
            "or save it again from Excel.",
        )
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        return Kind(
            "opendocument",
            "an OpenDocument file (.ods, from LibreOffice or Google Sheets)",
            "Open it and save it as CSV (UTF-8, comma-separated), or as Excel Workbook .xlsx.",
        )
    if "xl/workbook.bin" in names:
        return Kind(
            "xlsb",
            "a binary Excel workbook (.xlsb)",
            "Open it in Excel and use File > Save As > CSV UTF-8 (or Excel Workbook .xlsx).",
        )
    if "xl/workbook.xml" in names:
        return Kind("workbook", "an Excel workbook (.xlsx or .xlsm)", SAVE_AS_CSV)
    if "word/document.xml" in names:
        return Kind("word", "a Word document (.docx)", SAVE_AS_CSV)
    return Kind(
        "zip", "a zip archive, not an Excel workbook", "Unzip it and give the CSV file inside."
    )


_MAGIC = {
    b"%PDF": Kind("pdf", "a PDF document", "Download the report as CSV, not as PDF."),
    b"{\\rtf": Kind("rtf", "a Rich Text document", SAVE_AS_CSV),
    b"\x1f\x8b": Kind("gzip", "a gzip-compressed file", "Uncompress it and give the file inside."),
    b"7z\xbc\xaf\x27\x1c": Kind("7z", "a 7-Zip archive", "Unpack it and give the file inside."),
    b"Rar!": Kind("rar", "a RAR archive", "Unpack it and give the file inside."),
    b"\x89PNG": Kind("image", "a PNG image", "Give the CSV file, not a picture of it."),
    b"\xff\xd8\xff": Kind("image", "a JPEG image", "Give the CSV file, not a picture of it."),
    _SQLITE: Kind(
        "sqlite", "an SQLite database (the xl-pmpm ledger?)", "Give it with --ledger instead."
    ),
}

WEB_PAGE = Kind(
    "web-page",
    "a web page (HTML), not the file itself: the download ended on the portal's page "
    "(a login, an error or a 'session expired' page)",
    "Log in to the portal again and download the file again; check it opens as a table "
    "before giving it.",
)
XML = Kind(
    "xml",
    "an XML file (an 'XML Spreadsheet 2003' or another program's export)",
    SAVE_AS_CSV,
)
JSON = Kind(
    "json",
    "a message from a web service (JSON), not the file itself: the download did not "
    "give the file (a login or an error)",
    "Log in to the portal again and download the file again.",
)
NUL = Kind(
    "binary",
    "a binary file (it holds NUL bytes), not text",
    "Give the CSV file itself (File > Save As > CSV UTF-8 in Excel).",
)


# A page's first tags (a CSV never starts with '<'); a page fragment may lack <html>.
_HTML_TAG = re.compile(rb"<(head|body|script|meta|title|div|form|table|link|style|!--)[\s>/]")


def identify(data: bytes) -> Kind | None:
    """What `data` is when it is not a text file a command reads; None when it may be text.

    UTF-16 text (with its byte-order mark) is text. A zip (.xlsx) is named here too:
    the tier report reader handles .xlsx itself, every other reader refuses it.
    """
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _zip_kind(data)
    if data.startswith(_OLE):
        return _ole_kind(data)
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            return kind
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<"):
        if head.startswith((b"<!doctype html", b"<html")) or _HTML_TAG.search(head):
            return WEB_PAGE
        if head.startswith(b"<?xml"):
            return XML
    if head.startswith(b"{") and re.match(rb'\{\s*"[^"\n]{1,80}"\s*:', head):
        return JSON
    if b"\x00" in data:
        return NUL
    return None


def longest_line(data: bytes) -> tuple[int, int]:
    """(line number, length in bytes) of the longest line; lines end at LF, CR or CRLF."""
    if not data:
        return 1, 0
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero((buf == 10) | (buf == 13))
    bounds = np.concatenate([[-1], ends, [len(buf)]])
    lengths = np.diff(bounds) - 1
    at = int(np.argmax(lengths))
    if lengths[at] <= MAX_LINE_CHARS:  # the usual case: no line count needed
        return at + 1, int(lengths[at])
    before = ends[:at]  # a CRLF is one line end: count CRs followed by LF once
    after = buf[np.minimum(before + 1, len(buf) - 1)]
    crlf = int(np.count_nonzero((buf[before] == 13) & (after == 10)))
    return at + 1 - crlf, int(lengths[at])


def too_long_line(data: bytes, what: str, source: str) -> PmpmInputError | None:
    """The error for a line longer than MAX_LINE_CHARS, or None.

    UTF-16 text is measured in bytes, two a character: its limit is doubled.
    """
    limit = MAX_LINE_CHARS * (2 if data.startswith((b"\xff\xfe", b"\xfe\xff")) else 1)
    line, length = longest_line(data)
    if length <= limit:
        return None
    return PmpmInputError(
        f"{what}: line {line} is {length:,} characters long; no line of such a file is "
        f"longer than {MAX_LINE_CHARS:,}. It is not the file expected (a web page or another "
        "program's file?), or its line ends were lost.",
        file=source,
        row=line,
        fix="Give the CSV file itself (in Excel: File > Save As > CSV UTF-8); if it came "
        "from a download, download it again.",
    )


def refuse(kind: Kind, what: str, source: str, expected: str = "a CSV file") -> PmpmInputError:
    return PmpmInputError(f"{what} is {kind.what}, not {expected}.", file=source, fix=kind.fix)


STDIN = "-"  # the file name that means standard input (`xl-pmpm validate - < report.csv`)


def is_stdin(path: str | Path) -> bool:
    return str(path) == STDIN


def read_bytes(path: str | Path, what: str) -> bytes:
    """The bytes of a file (`-`: standard input); a missing, unreadable or folder path is a
    PmpmInputError naming the file (`what`: "Visits file", "Rate table", ...) and how to
    fix it."""
    if is_stdin(path):
        return sys.stdin.buffer.read()
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PmpmInputError(
            f"{what} not found.", file=str(path), fix="Check the file name and folder."
        ) from None
    except IsADirectoryError:
        raise PmpmInputError(
            f"{what}: {path} is a folder, not a file.", file=str(path), fix="Name the file itself."
        ) from None
    except OSError as exc:
        raise PmpmInputError(
            f"{what} cannot be read ({exc.strerror}).",
            file=str(path),
            fix="Close it in Excel and check it is a file you may read.",
        ) from None


def read_input(
    path: str | Path,
    what: str,
    *,
    expect: str = "csv",
    max_bytes: int | None = None,
    empty_ok: bool = False,
) -> bytes:
    """The bytes of an input file, checked to be what a command reads.

    `expect`: "csv" (text: a web page, a workbook, a binary file, an empty file or an
    over-long line is refused), "toml" (text, not empty), "report" (a CSV or an .xlsx
    workbook: the tier report reader says what else it is, as a finding), or "any".
    `max_bytes`: refused unread past it (the file's size on disk). `empty_ok`: an empty
    file is returned (a results file without failed rows), not refused.
    """
    path = Path(path)
    source = str(path)
    if max_bytes is not None:
        try:
            size = path.stat().st_size if path.is_file() else 0
        except OSError:
            size = 0  # read_bytes says what is wrong
        if size > max_bytes:
            raise PmpmInputError(
                f"{what} is {size / 1e6:,.1f} MB; such a file is at most "
                f"{max_bytes / 1e6:,.0f} MB here.",
                file=source,
                fix="Check that this is the right file.",
            )
    data = read_bytes(path, what)
    if expect in ("report", "any"):
        return data
    kind = identify(data)
    if kind is not None:
        raise refuse(kind, what, source, "a TOML text file" if expect == "toml" else "a CSV file")
    blank = not data.strip(b" \t\r\n\xef\xbb\xbf") or data in (b"\xff\xfe", b"\xfe\xff")
    if blank and not empty_ok:
        raise PmpmInputError(
            f"{what} is empty (a save or a copy that did not finish?).",
            file=source,
            fix="Save or copy it again; compare it with the bundled one.",
        )
    problem = too_long_line(data, what, source)
    if problem is not None:
        raise problem
    return data


def toml_depth(text: str) -> int:
    """How deep brackets and braces nest outside strings (an upper bound is enough)."""
    depth = deepest = 0
    quote = ""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
        elif ch == "\n":
            quote = ""
    return deepest


def load_toml(path: str | Path, what: str, fix: str) -> dict:
    """A TOML settings file (layout, mapping): read through `read_input`, nesting bounded,
    any error in it a PmpmInputError naming the file and `fix`."""
    data = read_input(path, what, expect="toml", max_bytes=MAX_SETTINGS_BYTES)
    source = str(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        enc = "UTF-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "not UTF-8"
        raise PmpmInputError(
            f"{what} is not valid TOML: it is {enc}.",
            file=source,
            fix=f"Save it as UTF-8 text. {fix}",
        ) from None
    if toml_depth(text) > MAX_TOML_DEPTH:
        raise PmpmInputError(
            f"{what} nests arrays or tables more than {MAX_TOML_DEPTH} deep; it is not a "
            "settings file.",
            file=source,
            fix=fix,
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PmpmInputError(f"{what} is not valid TOML: {exc}", file=source, fix=fix) from None
    except RecursionError:  # toml_depth bounds the nesting first; kept as a last guard
        raise PmpmInputError(f"{what} nests too deep to be read.", file=source, fix=fix) from None
