"""The Settings sheet: a key/value block from A1 that every button reads once.

The billing month, the extract, the folders, the layout and the ledger the buttons use;
Load writes back the month and the extract it read. A ledger named here is parsed by
the io layer's ledger address (a path, ``sqlite:///``, or a server URL, never with a
password).
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import xlwings as xw

from xl_pmpm.core.cells import EXCEL_EPOCH, excel_date
from xl_pmpm.core.errors import PmpmError, PmpmInputError
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.vocabulary import (
    SETTINGS,
)
from xl_pmpm.excel.toolkit import has_sheet, named_sheet, put, read_block
from xl_pmpm.io import files, ledger
from xl_pmpm.io.ledger import default_ledger
from xl_pmpm.io.workflow import as_of_date

_BESIDE_WORKBOOK = {"export folder": "exports", "archive folder": "archive"}


class Settings(dict[str, Any]):
    """{lower-case key: value} of the Settings sheet; `rows` gives each key's row."""

    rows: dict[str, int]


def read_settings(book: xw.Book) -> Settings:
    """Settings as {lower-case key: value} from the 2-column block at A1 (one read)."""
    out = Settings()
    out.rows = {}
    if not has_sheet(book, SETTINGS):
        return out
    for r, row in enumerate(read_block(named_sheet(book, SETTINGS)), start=1):
        if row and isinstance(row[0], str) and row[0].strip():
            key = row[0].strip().casefold()
            out[key] = row[1] if len(row) > 1 else None
            out.rows[key] = r
    return out


def pick_extract_file() -> str | None:
    """Ask for the extract with the desktop's own file dialog.

    Returns the chosen path, "" when the biller cancels, or None where the runtime has no
    dialog (xlwings Lite, Linux, a Python without tkinter): Settings then names the file.
    """
    if sys.platform not in ("win32", "darwin"):
        return None
    try:
        import tkinter
        from tkinter import filedialog
    except ImportError:
        return None
    try:
        root = tkinter.Tk()
    except tkinter.TclError:  # no display
        return None
    try:
        root.withdraw()
        root.attributes("-topmost", True)  # in front of Excel, which started this process
        chosen = filedialog.askopenfilename(
            parent=root,
            title="Load Extract: pick this month's PMPM Tier Report/Extract",
            filetypes=[("CSV files", "*.csv"), ("All files", "*.*")],
        )
    finally:
        root.destroy()
    return str(chosen or "")


def settings_date(settings: dict[str, Any], label: str) -> date | None:
    """The date on the Settings row `label`; None when blank, an error when unreadable."""
    value = settings.get(label.casefold())
    day = excel_date(value)
    if day is None and value not in (None, ""):
        raise PmpmError(f'Settings "{label}" holds {value!r}, not a date: write it as YYYY-MM-DD.')
    return day


def excel_serial(day: date) -> int:
    """A day as Excel's serial number: what a raw write puts in a date-formatted cell."""
    return (day - EXCEL_EPOCH).days


def settings_month(settings: dict[str, Any]) -> pd.Period | None:
    day = settings_date(settings, "Billing month")
    return None if day is None else pd.Period(day, freq="M")


def settings_as_of(settings: dict[str, Any]) -> date:
    """The as-of date on Settings; blank = today, as on the command line."""
    return as_of_date(settings_date(settings, "As-of date"))


def extract_path(settings: dict[str, Any]) -> Path:
    """The extract to load: Settings "Extract file"."""
    value = settings.get("extract file")
    if not value:
        raise PmpmError('Name the extract on the Settings sheet ("Extract file").')
    return Path(str(value).strip())


def read_context(book: xw.Book) -> tuple[Settings, Layout, RateBook]:
    settings = read_settings(book)
    layout_file = settings.get("layout file")
    layout = files.load_layout(str(layout_file).strip() if layout_file else None)
    return settings, layout, files.load_rate_book()


def settings_folder(settings: dict[str, Any], key: str, book: xw.Book | None = None) -> Path | None:
    """The folder a setting names; blank = `key`'s default folder beside the workbook.

    The default needs the workbook's full path, which only desktop Excel gives.
    """
    value = settings.get(key)
    if value and str(value).strip():
        return Path(str(value).strip())
    beside = _BESIDE_WORKBOOK.get(key)
    if book is None or beside is None:
        return None
    try:
        path = Path(str(book.fullname))
    except (NotImplementedError, AttributeError):
        return None
    return path.parent / beside if path.is_absolute() else None


def ledger_path(settings: dict[str, Any], book: xw.Book | None = None) -> str | Path | None:
    """Settings "Ledger file"; blank = the command line's default ledger.

    That is $XL_PMPM_LEDGER if set, else ``pmpm-ledger.sqlite3`` in the user's data
    folder (one per agency, never in the export folder). A server's URL is taken without
    a password: one written on the sheet is refused (PmpmInputError), the password
    belongs in PGPASSWORD or ~/.pgpass, never in the workbook.
    """
    value = settings.get("ledger file")
    if value and str(value).strip():
        text = str(value).strip()
        # The io layer's reading of a ledger's address (a path, sqlite:///, a server URL),
        # as the command line reads --ledger: a URL's mistakes are refused the same way.
        where = ledger.address(text)
        if isinstance(where, ledger.ServerAddress) and where.url.password:
            raise PmpmInputError(
                'The Settings sheet\'s "Ledger file" holds a password.',
                fix="Delete it from the URL (write postgresql://USER@HOST/DB) and set the "
                "password in PGPASSWORD or ~/.pgpass on this computer; save the workbook.",
            )
        return text if ledger.looks_like_url(text) else Path(text)
    return default_ledger()


def extract_source(settings: dict[str, Any]) -> str:
    value = settings.get("extract file")
    return Path(str(value)).name if value else ""


def fix_month_and_extract(book: xw.Book, settings: Settings, month: pd.Period | None) -> None:
    """Write the billing month Load used, and the extract it read, onto Settings.

    The month becomes a fixed date (the template's default formula follows today, so it
    would move next month), the extract names the file the archive cites. One write
    when the two rows are adjacent, as the template has them.
    """
    rows = {key: settings.rows.get(key) for key in ("billing month", "extract file")}
    values = {
        "billing month": None if month is None else excel_serial(month.start_time.date()),
        "extract file": settings.get("extract file"),
    }
    present = {k: r for k, r in rows.items() if r is not None and values[k] is not None}
    if not present:
        return
    sheet = named_sheet(book, SETTINGS)
    first, last = min(present.values()), max(present.values())
    if last - first + 1 == len(present):
        by_row = {r: values[k] for k, r in present.items()}
        put(sheet, [[by_row[r]] for r in range(first, last + 1)], row=first, column=2)
    else:
        for key, row in present.items():
            put(sheet, [[values[key]]], row=row, column=2)
