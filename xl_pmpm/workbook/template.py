"""Build the macro-enabled workbook template (``PMPM_Tier_Report.xlsm``) without Excel.

openpyxl writes the sheets (in write-only mode), all but the report sheets' data rows,
which are streamed as XML into openpyxl's sheet parts (a filled copy of a large extract
never holds every cell); the result is post-processed as a zip: the VBA project
(``xl/vbaProject.bin``), the ribbon (``customUI/customUI14.xml``), their
relationships and content types are added, and volatile values are pinned so that
two builds give the same parts. The finished
file is never passed back through openpyxl, which would drop the customUI14
relationship.

Sheet and column names come from :mod:`xl_pmpm.workbook.sheets`, which the xlwings front
end uses too. This module puts the workbook together; the parts live beside it:
:mod:`~xl_pmpm.workbook.formulas` (the engine columns' formulas and the rate lookups),
:mod:`~xl_pmpm.workbook.cells` (write-only cells and Excel Tables),
:mod:`~xl_pmpm.workbook.report_sheet` (All and the contract sheets),
:mod:`~xl_pmpm.workbook.sheet_xml` (their data rows, streamed as XML, and ignoredErrors),
:mod:`~xl_pmpm.workbook.book_sheets` (Rates, Settings, Summary, KPI, Help, xlwings.conf)
and :mod:`~xl_pmpm.workbook.package` (the .xlsm zip with the VBA project and ribbon).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import IO, TypedDict, Unpack

import openpyxl
import pandas as pd

from xl_pmpm.core.kpi import kpi_tables
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.vocabulary import (
    ACTION,
    ACTIONS,
    ALL,
    DEFERRED,
    FINDINGS,
    HISTORY,
    HISTORY_TABLE,
    PAID,
    PAID_TABLE,
    UNBILLED,
    UNBILLED_TABLE,
    VALIDATION,
)
from xl_pmpm.workbook import macros
from xl_pmpm.workbook.book_sheets import (
    SETTING_ROWS,
    XLWINGS_CONFIG_KEYS,
    config_sheet,
    default_tiers,
    help_sheet,
    rates_sheet,
    settings_sheet,
    summary_sheet,
    table_sheet,
)
from xl_pmpm.workbook.formulas import (
    engine_formulas,
)
from xl_pmpm.workbook.kpi_sheet import KPI_CHART_ROWS, kpi_sheet
from xl_pmpm.workbook.package import (
    ZIP_DATE,
    vba_modules,
    write_package,
)
from xl_pmpm.workbook.report_sheet import (
    contract_rows,
    report_rows,
    report_sheet,
    text_column_numbers,
)
from xl_pmpm.workbook.sheet_xml import SheetExtras, column_runs_sqref
from xl_pmpm.workbook.sheets import (
    DEFERRED_COLUMNS_META,
    ENGINE_COLUMNS,
    HISTORY_COLUMNS,
    PAID_HEADERS,
    PAID_TEXT,
    UNBILLED_HEADERS,
    UNBILLED_TEXT,
    VALIDATION_COLUMNS,
    extract_contracts,
    report_sheet_names,
    sanitize_sheet_name,
    shown,
    stamp_text,
    table_name,
)
from xl_pmpm.workbook.vba.project import build_vba_project

__all__ = [
    "ACTION",
    "ACTIONS",
    "ENGINE_COLUMNS",
    "FINDINGS",
    "KPI_CHART_ROWS",
    "SETTING_ROWS",
    "WorkbookOptions",
    "build_template",
    "engine_formulas",
    "report_rows",
    "report_sheet_names",
    "sanitize_sheet_name",
    "table_name",
    "vba_modules",
    "workbook_bytes",
    "ZIP_DATE",
]


def _workbook(
    layout: Layout,
    rate_book: RateBook,
    contracts: Sequence[str],
    rows: pd.DataFrame | None,
    billing_month: date | None,
    as_of: date | None,
    xlwings_config: Mapping[str, object] | None = None,
    deferred: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
) -> tuple[openpyxl.Workbook, list[str], dict[str, SheetExtras]]:
    """The openpyxl (write-only) workbook, the code names of its sheets in order, and
    what is added to its sheets' XML (the report sheets' data rows, ignoredErrors)."""
    wb = openpyxl.Workbook(write_only=True)
    wb.code_name = "ThisWorkbook"
    wb.properties.creator = "xl-pmpm"
    wb.properties.title = "PMPM Tier Report"
    names = report_sheet_names(contracts)
    code_names = ["wsAll"]
    extras = {ALL: report_sheet(wb, ALL, "wsAll", layout, rows)}
    subsets = contract_rows(rows, layout.name_of("contract"), names)
    for n, (contract, sheet) in enumerate(names.items(), start=1):
        code_names.append(f"wsReport{n}")
        extras[sheet] = report_sheet(wb, sheet, code_names[-1], layout, subsets[contract])
    rates_sheet(wb, rate_book, contracts)
    settings_sheet(wb, billing_month, as_of)
    # Restore puts a row back whole: every column the rules read, Authorized Hours too.
    deferred_columns = [*DEFERRED_COLUMNS_META, *(c.name for c in layout.sheet_columns)]
    if deferred is not None:  # all text on the sheet, as the front end writes it
        deferred = deferred.reindex(columns=deferred_columns).astype(object).fillna("").astype(str)
        deferred["archived_at"] = deferred["archived_at"].map(stamp_text)
        deferred = deferred.where(deferred != "", None)
    meta = {c: shown(c) for c in DEFERRED_COLUMNS_META}
    if deferred is not None:
        deferred = deferred.rename(columns=meta)
    deferred_headers = [meta.get(c, c) for c in deferred_columns]
    table_sheet(
        wb, DEFERRED, "wsDeferred", DEFERRED, deferred_headers, "TableStyleLight1", deferred
    )
    extras[DEFERRED] = SheetExtras(
        number_as_text=column_runs_sqref(
            text_column_numbers(layout, first=len(DEFERRED_COLUMNS_META) + 1)
        )
    )
    validation = [shown(c) for c in VALIDATION_COLUMNS]
    table_sheet(wb, VALIDATION, "wsValidation", VALIDATION, validation, "TableStyleLight10")
    summary_sheet(wb, list(contracts), layout, default_tiers(rate_book))
    if history is not None:
        history = history.copy()
        for column in ("exported_at", "updated_at"):
            if column in history:
                history[column] = history[column].map(stamp_text)
    headers = [shown(c) for c in HISTORY_COLUMNS]
    shown_history = None if history is None else history.rename(columns=shown)
    table_sheet(wb, HISTORY, "wsHistory", HISTORY_TABLE, headers, "TableStyleLight1", shown_history)
    kpis = None if history is None or history.empty else kpi_tables(history, rate_book)
    kpi_sheet(wb, default_tiers(rate_book), kpis)
    table_sheet(
        wb,
        UNBILLED,
        "wsUnbilled",
        UNBILLED_TABLE,
        UNBILLED_HEADERS,
        "TableStyleLight1",
        text_columns=UNBILLED_TEXT,
    )
    table_sheet(
        wb,
        PAID,
        "wsPaid",
        PAID_TABLE,
        PAID_HEADERS,
        "TableStyleLight1",
        text_columns=PAID_TEXT,
    )
    help_sheet(wb, layout)
    config_sheet(wb, xlwings_config)
    code_names += [
        "wsRates",
        "wsSettings",
        "wsDeferred",
        "wsValidation",
        "wsSummary",
        "wsHistory",
        "wsKpi",
        "wsUnbilled",
        "wsPaid",
        "wsHelp",
        "wsXlwingsConf",
    ]
    return wb, code_names, extras


class WorkbookOptions(TypedDict, total=False):
    """What `workbook_bytes` and `build_template` take besides the layout and rates.

    `contracts` defaults to those `rows` hold (none without rows). `rows` (an extract:
    layout column names, text values) fills a copy: every row goes on All, and each
    contract's rows on its sheet.
    `billing_month` / `as_of` fix those settings (default: formulas for last month / today).
    `xlwings_config` sets entries of the xlwings.conf sheet (e.g. ``Interpreter_Win``).
    `deferred` (archive records: review.ARCHIVE_META + the extract's columns) fills the
    Deferred sheet; `history` (export ledger entries) fills Export History and the KPIs.
    """

    contracts: Sequence[str] | None
    deferred: pd.DataFrame | None
    history: pd.DataFrame | None
    rows: pd.DataFrame | None
    billing_month: date | None
    as_of: date | None
    xlwings_config: Mapping[str, object] | None


def _write_workbook(
    out: IO[bytes],
    layout: Layout,
    rate_book: RateBook,
    *,
    contracts: Sequence[str] | None = None,
    rows: pd.DataFrame | None = None,
    billing_month: date | None = None,
    as_of: date | None = None,
    xlwings_config: Mapping[str, object] | None = None,
    deferred: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
) -> None:
    unknown = set(xlwings_config or {}) - set(XLWINGS_CONFIG_KEYS)
    if unknown:
        raise ValueError(f"not xlwings.conf settings: {sorted(unknown)}")
    if contracts is None:
        contracts = extract_contracts(rows, layout)
    wb, code_names, extras = _workbook(
        layout, rate_book, contracts, rows, billing_month, as_of, xlwings_config, deferred, history
    )
    vba = build_vba_project(vba_modules(code_names))
    custom_ui = macros.ribbon_xml().encode("utf-8")
    with tempfile.TemporaryFile() as xlsx:
        wb.save(xlsx)
        xlsx.seek(0)
        write_package(xlsx, vba, custom_ui, out, extras)


def workbook_bytes(
    layout: Layout, rate_book: RateBook, **options: Unpack[WorkbookOptions]
) -> bytes:
    """The macro-enabled Tier Report workbook, as the bytes of an .xlsm file.

    `options`: see `WorkbookOptions`.
    """
    buffer = io.BytesIO()
    _write_workbook(buffer, layout, rate_book, **options)
    return buffer.getvalue()


def build_template(
    out_path: str | Path, layout: Layout, rate_book: RateBook, **options: Unpack[WorkbookOptions]
) -> Path:
    """Write the workbook to `out_path` atomically (a rebuilt template replaces the old one).

    Streams to a temp file beside `out_path`: a filled copy of a large extract is never
    held in memory whole. `options`: see `WorkbookOptions`.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    # A filled copy holds billing data (health data): owner-only.
    private = options.get("rows") is not None
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_workbook(fh, layout, rate_book, **options)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def write_macro_sources(directory: str | Path) -> list[Path]:
    """Write the generated ribbon XML and VBA modules into `directory` (macros/ to read)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in macros.GENERATED_FILES.items():
        path = out / name
        data = make()
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    return written
