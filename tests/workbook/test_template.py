"""Tests for the macro-enabled workbook template (xl_pmpm.workbook.template)."""

from __future__ import annotations

import functools
import io
import itertools
import math
import os
import re
import shutil
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import xlwings
from libreoffice import (
    assert_row_is_the_engines,
    engine_vs_libreoffice,
    needs_soffice,
    soffice_convert,
)

from benchmarks import sample
from xl_pmpm.cli import app as cli
from xl_pmpm.core import hours_basis, kpi, vocabulary
from xl_pmpm.core.flags import flag_tier_risk, risk_total
from xl_pmpm.core.hours_basis import HoursBasis
from xl_pmpm.core.rates import RATE_COLUMNS
from xl_pmpm.core.review import ARCHIVE_META
from xl_pmpm.core.summary import visit_summary
from xl_pmpm.excel import frontend as fe
from xl_pmpm.io import files, ledger
from xl_pmpm.workbook import book_sheets, kpi_sheet, macros, sheets, template
from xl_pmpm.workbook.actions import BUTTONS, UDF_MODULE
from xl_pmpm.workbook.formulas import engine_formulas
from xl_pmpm.workbook.vba.project import module_from_file, normalize_module_source, read_vba_modules

with warnings.catch_warnings():
    # oletools 0.60 uses pyparsing APIs that warn on import.
    warnings.simplefilter("ignore", DeprecationWarning)
    from oletools.olevba import VBA_Parser

LAYOUT = files.load_layout()
BOOK = files.load_rate_book()
REPO = Path(__file__).resolve().parents[2]
CHECKED_IN = REPO / "workbook_templates" / "PMPM_Tier_Report.xlsm"
XLWINGS_DIR = Path(xlwings.__file__).parent
GENERATED_MODULES = {
    macros.RIBBON_MODULE: macros.ribbon_module(),
    macros.UDF_MODULE_NAME: macros.udf_module(),
}
XLWINGS_MODULES = [XLWINGS_DIR / "xlwings.bas", XLWINGS_DIR / "addin" / "Dictionary.cls"]
# {module name: source} of every module the builder puts in besides the document modules.
SOURCES = {
    **GENERATED_MODULES,
    **{module_from_file(p).name: module_from_file(p).source for p in XLWINGS_MODULES},
}
NS_UI = "{http://schemas.microsoft.com/office/2009/07/customui}"
NS_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
NS_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
CALLBACK_RE = re.compile(
    r"^Sub (\w+)\(control As IRibbonControl\)\n(.*?)\nEnd Sub$", re.MULTILINE | re.DOTALL
)
# Billed hours at the tier edges; unbilled hours chosen to cross (or not cross) an edge.
HOURS = [0, 0.99, 1, 159.5, 159.99, 160, 479.99, 480, 700]
UNBILLED = [0.5, 0.01, 0, 0.5, 0.01, 20, 0.01, 0, 5]


# --------------------------------------------------------------------------- helpers


def _lines(text: str) -> list[str]:
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _code_lines(text: str) -> list[str]:
    """Source lines without a .cls VERSION/BEGIN..END header and without Attribute lines."""
    lines = _lines(text)
    if lines and lines[0].startswith("VERSION "):
        lines = lines[lines.index("END") + 1 :]
    lines = [line for line in lines if not line.startswith("Attribute ")]
    while lines and lines[-1] == "":
        lines.pop()
    return lines


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _filled_rows() -> pd.DataFrame:
    """An extract of len(HOURS) + 2 rows of one default-payer contract, as text."""
    n = len(HOURS) + 2
    rows = sample.generate_extract(n, "2025-03", LAYOUT, BOOK, mangle=False)
    billed, unbilled = LAYOUT.name_of("billed_hours"), LAYOUT.name_of("unbilled_hours")
    rows[billed] = [f"{h:g}" for h in HOURS] + ["", "12.5"]
    rows[unbilled] = [f"{u:g}" for u in UNBILLED] + ["3", ""]
    rows[LAYOUT.name_of("contract")] = sample.CONTRACTS[0]
    return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template.build_template(
        tmp_path_factory.mktemp("template") / "PMPM_Tier_Report.xlsm", LAYOUT, BOOK
    )


# --------------------------------------------------------------------------- ribbon and VBA


def _extracted_modules(path: Path) -> dict[str, str]:
    """{module name: source} of a built workbook, as oletools reads them back."""
    parser = VBA_Parser(str(path))
    assert parser.detect_vba_macros()
    modules = {
        stream.split("/")[-1]: code for _file, stream, _name, code in parser.extract_macros()
    }
    parser.close()
    return modules


def test_ribbon_buttons_are_the_table_and_each_calls_one_line(built: Path) -> None:
    """The built ribbon has every button of the table, each bound to a one-line Sub."""
    root = ET.fromstring(_parts(built)["customUI/customUI14.xml"])
    assert root.tag == f"{NS_UI}customUI"
    buttons = list(root.iter(f"{NS_UI}button"))
    assert [b.get("label") for b in buttons] == [b.label for b in BUTTONS]
    for button in buttons:
        assert button.get("imageMso") and button.get("screentip") and button.get("supertip")
    ribbon = "\n".join(_lines(_extracted_modules(built)[macros.RIBBON_MODULE]))
    subs = dict(CALLBACK_RE.findall(ribbon))
    assert set(subs) == {b.get("onAction") for b in buttons}
    for body in subs.values():
        assert len(body.split("\n")) == 1 and body.strip().startswith('RunPython "'), body
    # VBA holds no logic: outside the callbacks only comments and declarations.
    for line in CALLBACK_RE.sub("", ribbon).split("\n"):
        stripped = line.strip()
        assert not stripped or stripped.startswith(("'", "Attribute VB_", "Option Explicit"))


def test_macros_folder_is_what_the_table_generates() -> None:
    """macros/ holds copies for people to read; tools/regenerate_workbook.py rewrites them."""
    folder = REPO / "macros"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {
        name: make() for name, make in macros.GENERATED_FILES.items()
    }


def test_vba_read_back_by_olevba_equals_sources(built: Path) -> None:
    extracted = _extracted_modules(built)
    sources = SOURCES
    for name, source in sources.items():
        assert _code_lines(extracted[name]) == _code_lines(source), name
    # Licence headers of the bundled third-party modules survive.
    assert "BSD 3-clause" in extracted["xlwings"]
    assert "License: MIT" in extracted["Dictionary"]
    wb = openpyxl.load_workbook(built)
    document = {"ThisWorkbook", *(ws.sheet_properties.codeName for ws in wb.worksheets)}
    assert None not in document
    assert wb.code_name == "ThisWorkbook"
    assert document <= set(extracted)
    assert set(extracted) == document | set(sources)
    modules = read_vba_modules(_parts(built)["xl/vbaProject.bin"])
    for module in template.vba_modules([]):
        if module.name in sources:
            assert modules[module.name] == normalize_module_source(module)


# --------------------------------------------------------------------------- package


def test_package_parts(built: Path) -> None:
    parts = _parts(built)
    assert list(parts)[:2] == ["[Content_Types].xml", "_rels/.rels"]
    types = ET.fromstring(parts["[Content_Types].xml"])
    defaults = {d.get("Extension"): d.get("ContentType") for d in types.iter(f"{NS_CT}Default")}
    overrides = {o.get("PartName"): o.get("ContentType") for o in types.iter(f"{NS_CT}Override")}
    assert overrides["/xl/workbook.xml"] == "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
    assert defaults["bin"] == "application/vnd.ms-office.vbaProject"
    assert defaults["xml"] == "application/xml"  # covers customUI/customUI14.xml
    root_rels = ET.fromstring(parts["_rels/.rels"])
    ui = [r for r in root_rels.iter(f"{NS_REL}Relationship") if r.get("Target").endswith(".xml")]
    by_type = {r.get("Type"): r.get("Target") for r in ui}
    ribbon = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
    assert by_type[ribbon] == "customUI/customUI14.xml"
    assert "customUI/customUI14.xml" in parts
    assert parts["customUI/customUI14.xml"] == macros.ribbon_xml().encode("utf-8")
    wb_rels = ET.fromstring(parts["xl/_rels/workbook.xml.rels"])
    vba = [
        r.get("Target")
        for r in wb_rels.iter(f"{NS_REL}Relationship")
        if r.get("Type") == "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
    ]
    assert vba == ["vbaProject.bin"]
    ids = [r.get("Id") for r in wb_rels.iter(f"{NS_REL}Relationship")]
    assert len(ids) == len(set(ids))
    assert b'codeName="ThisWorkbook"' in parts["xl/workbook.xml"]


def test_second_build_gives_same_parts(built: Path, tmp_path: Path) -> None:
    again = template.build_template(tmp_path / "again.xlsm", LAYOUT, BOOK)
    first, second = _parts(built), _parts(again)
    assert list(first) == list(second)
    for name in first:
        assert first[name] == second[name], name
    assert b"2024-01-01T00:00:00Z" in first["docProps/core.xml"]
    with zipfile.ZipFile(again) as archive:
        assert {info.date_time for info in archive.infolist()} == {template.ZIP_DATE}


def test_build_is_atomic_and_replaces(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "t.xlsm"
    out.parent.mkdir()
    out.write_bytes(b"old")
    template.build_template(out, LAYOUT, BOOK, contracts=[])
    assert zipfile.is_zipfile(out)
    assert [p.name for p in out.parent.iterdir()] == ["t.xlsm"]


# --------------------------------------------------------------------------- installed


def test_installed_package_builds_the_workbook_and_needs_out(tmp_path: Path) -> None:
    """The workbook is built from the installed package alone, where --out says."""
    root = Path(template.__file__).resolve().parents[2]
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        shutil.copy(root / name, src)
    shutil.copytree(root / "xl_pmpm", src / "xl_pmpm", ignore=shutil.ignore_patterns("__pycache__"))
    lib = tmp_path / "lib"
    # The wheel as pip builds it (its own build environment: pyproject's setuptools).
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    with zipfile.ZipFile(next(tmp_path.glob("xl_pmpm-*.whl"))) as wheel:
        wheel.extractall(lib)
    run = functools.partial(
        subprocess.run,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(lib)},
        timeout=300,
    )
    done = run([sys.executable, "-m", "xl_pmpm.cli", "build-template"])
    assert done.returncode == 2 and "required: --out" in done.stderr, done.stderr
    assert not list(lib.rglob("*.xlsm"))
    out = tmp_path / "PMPM.xlsm"
    done = run([sys.executable, "-m", "xl_pmpm.cli", "build-template", "--out", str(out)])
    assert done.returncode == 0, done.stderr
    assert _parts(out)["customUI/customUI14.xml"] == macros.ribbon_xml().encode("utf-8")
    assert _code_lines(_extracted_modules(out)[macros.UDF_MODULE_NAME]) == _code_lines(
        macros.udf_module()
    )


# --------------------------------------------------------------------------- sheets


def test_sheets_tables_and_headers(built: Path) -> None:
    wb = openpyxl.load_workbook(built)
    reports = ["All"]  # no contract's sheet: Load Extract makes the extract's own
    assert wb.sheetnames == [
        *reports,
        "Rates",
        "Settings",
        "Deferred",
        "Validation",
        "Summary",
        "Export History",
        "KPI",
        "Unbilled",
        "Paid",
        "Help",
        "xlwings.conf",
    ]
    expected = ["Line"] + [c.name for c in LAYOUT.sheet_columns] + template.ENGINE_COLUMNS
    assert template.ENGINE_COLUMNS == [
        "Tier now",
        "Tier if billed",
        "At risk",
        "Dollar effect",
        "Findings",
        "Action",
    ]
    for sheet in reports:
        ws = wb[sheet]
        (table,) = ws.tables.values()
        assert table.name == template.table_name(sheet)
        assert [c.name for c in table.tableColumns] == expected
        assert [c.value for c in ws[1]] == expected
        patient = expected.index(LAYOUT.name_of("patient_number"))
        assert ws.freeze_panes == f"{openpyxl.utils.get_column_letter(patient + 2)}2"
        billed = expected.index(LAYOUT.name_of("billed_hours")) + 1
        assert ws.cell(2, billed).number_format == "#,##0.00"
        for n, column in enumerate(LAYOUT.sheet_columns, start=2):
            if column.id or column.type == "datetime":
                assert ws.cell(2, n).number_format == "@", column.name
        action = openpyxl.utils.get_column_letter(expected.index("Action") + 1)
        (dv,) = ws.data_validations.dataValidation
        assert dv.type == "list" and dv.formula1 == '"Keep,Delete,Defer"'
        assert str(dv.sqref) == f"{action}2:{action}1048576"
        rules = [r for cf in ws.conditional_formatting for r in cf.rules]
        risk = openpyxl.utils.get_column_letter(expected.index("At risk") + 1)
        findings = openpyxl.utils.get_column_letter(expected.index("Findings") + 1)
        assert any(f"${risk}2" in r.formula[0] for r in rules)
        assert any(f"${findings}2" in r.formula[0] for r in rules)
        # Printed at 8 pt or more (one page width was about 3 pt): an explicit scale, the
        # header row and the row's identity (Line to Patient Number) on every page.
        assert not ws.sheet_properties.pageSetUpPr.fitToPage
        assert wb._fonts[0].sz * ws.page_setup.scale / 100 >= 8
        assert ws.page_setup.orientation == "landscape"
        assert ws.print_title_rows == "$1:$1"
        assert ws.print_title_cols == f"$A:${openpyxl.utils.get_column_letter(patient + 1)}"
    for sheet in ("Rates", "Deferred", "Validation", "Export History"):
        assert wb[sheet].freeze_panes == "A2", sheet
        assert wb[sheet].column_dimensions["A"].width >= 10, sheet
    rates = wb["Rates"].tables["Rates"]
    assert [c.name for c in rates.tableColumns] == [sheets.shown(c) for c in RATE_COLUMNS]
    assert rates.ref == f"A1:K{len(BOOK.rates) + 1}"
    assert wb["Validation"].tables["Validation"].ref.startswith("A1:G")
    assert [c.value for c in wb["Validation"][1]] == [
        "Code",
        "Severity",
        "Row",
        "Field",
        "Value",
        "Message",
        "Link",
    ]
    for name, label, _ in template.SETTING_ROWS:
        row = int(wb.defined_names[name].attr_text.rsplit("$", 1)[1])
        assert wb["Settings"].cell(row, 1).value == label
    labels = {row[0] for row in wb["Settings"].iter_rows(values_only=True)}
    # The labels the front end reads.
    assert {"Extract file", "Export folder", "Archive folder", "Ledger file"} <= labels
    history = wb["Export History"].tables["ExportHistory"]
    assert [c.name for c in history.tableColumns] == [sheets.shown(c) for c in ledger.ENTRY_COLUMNS]
    # The archive keeps every column the rules read: Authorized Hours too (W).
    assert wb["Deferred"].tables["Deferred"].ref == "A1:W2"
    assert [c.value for c in wb["Deferred"][1]][:6] == [sheets.shown(c) for c in ARCHIVE_META]
    summary = wb["Summary"]
    assert set(summary.tables) == {"Summary", "ByTier"}
    by_tier = [c.name for c in summary.tables["ByTier"].tableColumns]
    assert by_tier == ["Contract"] + [f"Tier {t} members" for t in (1, 2, 3)] + [
        f"Tier {t} dollars" for t in (1, 2, 3)
    ]
    titles = sorted("".join(r.t for p in c.title.tx.rich.p for r in p.r) for c in summary._charts)
    assert titles == ["Dollars by tier and contract", "Members by tier and contract"]
    conf = {row[0]: row[1] for row in wb["xlwings.conf"].iter_rows(values_only=True)}
    assert conf == {"UDF Modules": "xl_pmpm.excel.udfs"}
    help_text = "\n".join(str(c.value) for row in wb["Help"].iter_rows() for c in row if c.value)
    for function in (
        "PMPM_TIER(",
        "PMPM_RATE_CODE(",
        "PMPM_RATE(",
        "PMPM_TIER_IF_BILLED(",
        "PMPM_AT_RISK(",
        "PMPM_SUBMIT_WINDOW(",
    ):
        assert function in help_text
    for label in (
        "Load Extract",
        "Refresh Flags",
        "Delete Rows",
        "Defer Rows",
        "Restore",
        "Validate",
        "Export",
    ):
        assert label in help_text


def test_sheet_names_are_sanitized() -> None:
    contracts = [
        "A/B:C*D?E[F]G\\H",
        "x" * 40,
        "x" * 40 + "y",
        "Rates",
        "'Quoted'",
        "all",
    ]
    names = template.report_sheet_names(contracts)
    assert len(set(n.casefold() for n in names.values())) == len(contracts)
    for name in names.values():
        assert len(name) <= 31
        assert not set(name) & set("[]:*?/\\")
        assert not name.startswith("'") and not name.endswith("'")
        assert name.casefold() not in {"rates", "all"}
        assert re.fullmatch(r"Report_\w+", template.table_name(name))


def test_the_template_names_no_sample_contract(built: Path) -> None:
    parts = _parts(built)
    text = b"".join(v for k, v in parts.items() if k.endswith(".xml"))
    for contract in sample.CONTRACTS:
        assert contract.encode() not in text, contract
    assert _contract_places(openpyxl.load_workbook(built)) == []


def _contract_places(wb: openpyxl.Workbook) -> list[list[object]]:
    """The filled [contract, payer] places of the Rates sheet's Contracts table."""
    (ref,) = [t.ref for t in wb["Rates"].tables.values() if t.name == vocabulary.CONTRACTS_TABLE]
    assert ref.startswith(openpyxl.utils.get_column_letter(sheets.CONTRACTS_FIRST_COLUMN))
    assert ref.endswith(str(sheets.CONTRACT_PLACES + 1))
    first = sheets.CONTRACTS_FIRST_COLUMN
    rows = wb["Rates"].iter_rows(
        min_row=2, min_col=first, max_col=first + 1, max_row=sheets.CONTRACT_PLACES + 1
    )
    return [[c.value for c in row] for row in rows if row[0].value is not None]


def test_a_filled_copy_has_a_formatted_sheet_and_summary_row_per_own_contract(
    tmp_path: Path,
) -> None:
    rows = sample.generate_extract(30, "2025-03", LAYOUT, BOOK, mangle=False)
    contract = LAYOUT.name_of("contract")
    own = ["Acme Care MLTC", "Borough Health/PACE"]
    rows[contract] = [own[i % 2] for i in range(len(rows))]
    path = template.build_template(tmp_path / "own.xlsm", LAYOUT, BOOK, rows=rows)
    wb = openpyxl.load_workbook(path)
    names = template.report_sheet_names(own)
    assert wb.sheetnames[: 1 + len(own)] == ["All", *names.values()]
    for name, sheet in names.items():
        ws = wb[sheet]
        (table,) = ws.tables.values()
        assert table.name == template.table_name(sheet)
        assert ws.freeze_panes == wb["All"].freeze_panes
        assert [str(dv.sqref) for dv in ws.data_validations.dataValidation] == [
            str(dv.sqref) for dv in wb["All"].data_validations.dataValidation
        ]
        assert ws.print_title_rows == wb["All"].print_title_rows
        first = [c.value for c in ws[2]]
        assert first[[c.value for c in ws[1]].index(contract)] == name
    assert _contract_places(wb) == [[c, "*"] for c in sorted(own)]
    assert sample.CONTRACTS[0] not in wb.sheetnames


def test_filled_copy_puts_rows_in_tables(tmp_path: Path) -> None:
    rows = sample.generate_extract(40, "2025-03", LAYOUT, BOOK, mangle=False)
    path = template.build_template(tmp_path / "filled.xlsm", LAYOUT, BOOK, rows=rows)
    wb = openpyxl.load_workbook(path)
    contract = LAYOUT.name_of("contract")
    names = template.report_sheet_names(sample.CONTRACTS)
    width = 1 + len(LAYOUT.export_columns) + len(template.ENGINE_COLUMNS)
    last = openpyxl.utils.get_column_letter(width)
    for sheet, subset in [("All", rows)] + [
        (names[c], rows[rows[contract] == c]) for c in sample.CONTRACTS
    ]:
        ws = wb[sheet]
        (table,) = ws.tables.values()
        assert table.ref == f"A1:{last}{max(len(subset), 1) + 1}"
        patient = [c.name for c in LAYOUT.export_columns].index(LAYOUT.name_of("patient_number"))
        got = [ws.cell(r, patient + 2).value for r in range(2, len(subset) + 2)]
        assert got == list(subset[LAYOUT.name_of("patient_number")])
        # Line: the extract's own line of each row, as the front end numbers them.
        assert [ws.cell(r, 1).value for r in range(2, len(subset) + 2)] == list(subset.index)
        hours = [ws.cell(r, patient + 2).number_format for r in range(2, len(subset) + 2)]
        assert set(hours) == {"@"}
        tier_col = len(LAYOUT.export_columns) + 2
        for r in range(2, len(subset) + 2):
            formula = str(ws.cell(r, tier_col).value)
            assert formula.startswith("=IF(") and "ISNUMBER(" in formula, formula
    assert path.stat().st_mode & 0o077 == 0


def test_names_and_stamps_come_from_one_place() -> None:
    assert template.ENGINE_COLUMNS is sheets.ENGINE_COLUMNS
    assert template.report_sheet_names is sheets.report_sheet_names
    assert not hasattr(fe, "sheet_names")
    assert fe.ENGINE_COLUMNS is sheets.ENGINE_COLUMNS and fe.LINE == vocabulary.LINE == "Line"
    # Excel refuses a sheet named History; contracts never take a fixed sheet's name.
    names = sheets.report_sheet_names(["History", "Export History", "_original"])
    assert [n.casefold() for n in names.values()] == ["history (2)", "export history (2)"] + [
        "_original (2)"
    ]
    assert vocabulary.HISTORY.casefold() != "history"


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-05T09:30:07",
        "2026-11-05 09:30:07",
        "2026-11-05T09:30:07.000Z",
        datetime(2026, 11, 5, 9, 30, 7),
        46331 + (9 * 3600 + 30 * 60 + 7) / 86400,  # Excel's serial number of that moment
    ],
)
def test_stamp_text_gives_one_form(value: object) -> None:
    assert sheets.stamp_text(value) == "2026-11-05 09:30:07"


def test_xlwings_config_sets_the_interpreter(tmp_path: Path) -> None:
    data = template.workbook_bytes(LAYOUT, BOOK, xlwings_config={"Interpreter_Win": "C:\\py.exe"})
    wb = openpyxl.load_workbook(io.BytesIO(data))
    rows = list(wb["xlwings.conf"].iter_rows(values_only=True))
    # Only entries with values: a blank one would hide the user's own config files.
    assert rows == [("UDF Modules", UDF_MODULE), ("Interpreter_Win", "C:\\py.exe")]
    plain = openpyxl.load_workbook(io.BytesIO(template.workbook_bytes(LAYOUT, BOOK)))
    assert list(plain["xlwings.conf"].iter_rows(values_only=True)) == [("UDF Modules", UDF_MODULE)]
    with pytest.raises(ValueError):
        template.workbook_bytes(LAYOUT, BOOK, xlwings_config={"Interpreter": "x"})


def test_build_template_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.xlsm"
    assert cli.main(["build-template", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert zipfile.is_zipfile(out)


def test_checked_in_template_is_current(built: Path) -> None:
    assert CHECKED_IN.exists(), "run `python tools/regenerate_workbook.py`"
    assert _parts(CHECKED_IN) == _parts(built), "run `python tools/regenerate_workbook.py`"


def test_the_development_command_regenerates_the_checkouts_files(tmp_path: Path) -> None:
    """tools/regenerate_workbook.py writes the template and macros/ under --root, as
    checked in; the installed package writes neither (build-template needs --out)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "regenerate_workbook.py"), "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    made = tmp_path / "workbook_templates" / "PMPM_Tier_Report.xlsm"
    assert str(made) in done.stdout.splitlines()
    assert _parts(made) == _parts(CHECKED_IN)
    assert {p.name: p.read_bytes() for p in (tmp_path / "macros").iterdir()} == {
        p.name: p.read_bytes() for p in (REPO / "macros").iterdir()
    }
    assert not hasattr(template, "REPO_ROOT") and not hasattr(template, "TEMPLATE_PATH")


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


def _kpi_charts(ws: object) -> dict[str, list[tuple[str, ...]]]:
    """{chart title: [(series title ref, values ref, categories ref)]} of a sheet."""
    out = {}
    for chart in ws._charts:
        title = "".join(r.t for p in chart.title.tx.rich.p for r in (p.r or []))
        out[title] = [
            (s.tx.strRef.f, s.val.numRef.f, (s.cat.numRef or s.cat.strRef).f) for s in chart.series
        ]
    return out


def test_kpi_sheet_has_the_kpi_tables_and_charts(built: Path) -> None:
    wb = openpyxl.load_workbook(built)
    ws = wb[vocabulary.KPI]
    firsts = sheets.kpi_first_columns()
    assert {t.name: t.ref for t in ws.tables.values()} == {
        sheets.KPI_TABLE_NAMES[key]: (
            f"{fe.col_letter(first)}1:{fe.col_letter(first + len(kpi.KPI_COLUMNS[key]) - 1)}2"
        )
        for key, first in firsts.items()
    }
    for key, first in firsts.items():
        table = ws.tables[sheets.KPI_TABLE_NAMES[key]]
        headers = [sheets.shown(c) for c in kpi.KPI_COLUMNS[key]]
        assert [c.name for c in table.tableColumns] == headers
        assert [ws.cell(1, first + i).value for i in range(len(table.tableColumns))] == headers
    assert ws.column_dimensions["A"].number_format == "@"  # months stay text
    last = template.KPI_CHART_ROWS + 1
    charts = _kpi_charts(ws)
    assert charts["Revenue per member per month (PMPM)"] == [
        ("'KPI'!D1", f"'KPI'!$D$2:$D${last}", f"'KPI'!$A$2:$A${last}")
    ]
    assert charts["Members billed per month"] == [
        ("'KPI'!B1", f"'KPI'!$B$2:$B${last}", f"'KPI'!$A$2:$A${last}")
    ]
    (mix,) = [c for c in ws._charts if c.grouping == "percentStacked"]
    series = charts["Tier mix (share of members)"]
    assert [ws[ref.split("!")[1]].value for ref, _, _ in series] == [
        "Tier 1 share",
        "Tier 2 share",
        "Tier 3 share",
    ]
    assert len(charts) == 3 and mix.type == "col"


@needs_soffice
def test_libreoffice_computes_the_tier_mix_chart_block(built: Path, tmp_path: Path) -> None:
    """Fill the KPI tables as the KPI button would; LibreOffice recalculates the chart block."""
    history = pd.DataFrame(
        {
            "id": range(1, 8),
            "status": ["exported"] * 7,
            "month": ["2025-03"] * 4 + ["2025-04"] * 3,
            "patient_number": ["1", "2", "3", "4", "1", "2", "3"],
            "contract": ["C"] * 7,
            "tier": [1, 1, 2, 3, 2, 2, 2],
            "rate": [146.45, 146.45, 387.84, 1046.36, 387.84, 387.84, 387.84],
        }
    )
    tables = kpi.kpi_tables(history)
    wb = openpyxl.load_workbook(built)
    ws = wb[vocabulary.KPI]
    for key, first in sheets.kpi_first_columns().items():
        rows = tables[key].astype(object).where(tables[key].notna(), None).to_numpy().tolist()
        for r, row in enumerate(rows, start=2):
            for c, value in enumerate(row, start=first):
                ws.cell(r, c).value = value
        table = ws.tables[sheets.KPI_TABLE_NAMES[key]]
        table.ref = table.autoFilter.ref = (
            f"{table.ref.split(':')[0]}:{table.ref.split(':')[1][:-1]}{len(rows) + 1}"
        )
    path = tmp_path / "kpi.xlsx"
    wb.save(path)
    xlsx = soffice_convert(path, "xlsx", tmp_path)
    got = openpyxl.load_workbook(xlsx, data_only=True)[vocabulary.KPI]
    header = [c.value for c in got[1]]
    block = header.index("Tier mix: month") + 1
    shown = [[got.cell(r, block + i).value for i in range(4)] for r in range(2, 5)]
    mix = tables["tier_mix"].pivot(index="month", columns="tier", values="share")
    assert shown[:2] == [[m, *mix.loc[m].tolist()] for m in ("2025-03", "2025-04")]
    assert all(v in (None, "") for v in shown[2])  # no third month: blank formulas
    assert len(openpyxl.load_workbook(xlsx)[vocabulary.KPI]._charts) == 3
    # The note above the charts: there while no export is recorded, gone once KPIs fills.
    (note,) = [c.coordinate for c in ws[1] if kpi_sheet.KPI_EMPTY_NOTE in str(c.value)]
    assert got[note].value in (None, "")
    (tmp_path / "empty").mkdir()
    empty = tmp_path / "empty" / "kpi.xlsx"
    openpyxl.load_workbook(built).save(empty)
    fresh = soffice_convert(empty, "xlsx", tmp_path / "empty")
    assert openpyxl.load_workbook(fresh, data_only=True)[vocabulary.KPI][note].value == (
        kpi_sheet.KPI_EMPTY_NOTE
    )


@needs_soffice
def test_libreoffice_imports_the_modules(built: Path, tmp_path: Path) -> None:
    ods = soffice_convert(built, "ods", tmp_path)
    namespace = "{http://openoffice.org/2000/script}"
    with zipfile.ZipFile(ods) as archive:
        library = archive.read("Basic/VBAProject/script-lb.xml").decode()
        sources = {**GENERATED_MODULES}
        sources.update(
            {module_from_file(p).name: module_from_file(p).source for p in XLWINGS_MODULES}
        )
        for name, source in sources.items():
            assert f'library:name="{name}"' in library
            root = ET.fromstring(archive.read(f"Basic/VBAProject/{name}.xml"))
            assert root.get(f"{namespace}name") == name
            imported = _libreoffice_module_lines(root.text or "")
            assert imported, f"{name} imported empty"
            assert imported == _code_lines(source), name


@needs_soffice
@pytest.mark.parametrize("month", [date(2024, 7, 1), date(2025, 3, 1)])
def test_libreoffice_formulas_match_the_engine(tmp_path: Path, month: date) -> None:
    rows = _filled_rows()
    path = template.build_template(
        tmp_path / "filled.xlsm", LAYOUT, BOOK, rows=rows, billing_month=month
    )
    xlsx = soffice_convert(path, "xlsx", tmp_path)
    wb = openpyxl.load_workbook(xlsx, data_only=True)
    flags = flag_tier_risk(rows, LAYOUT, BOOK, pd.Timestamp(month))
    headers = [c.value for c in wb["All"][1]]
    col = {h: headers.index(h) for h in template.ENGINE_COLUMNS}
    for sheet in ("All", template.report_sheet_names(sample.CONTRACTS)[sample.CONTRACTS[0]]):
        got = [row for row in wb[sheet].iter_rows(min_row=2, values_only=True)]
        assert len(got) == len(rows)
        for values, (_, expected) in zip(got, flags.iterrows(), strict=True):
            assert_row_is_the_engines(
                values, col, expected, f"{sheet}: billed {expected['billed_hours']}, {month}"
            )
    assert flags["at_risk"].sum() >= 4  # the chosen hours cross tier edges
    summary = {row[0]: row for row in wb["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["All"][1:4] == (
        len(rows),
        int(flags["at_risk"].sum()),
        pytest.approx(risk_total(flags)),
    )
    # Members and dollars by tier: the formulas agree with the core's visit summary.
    core = visit_summary(rows, flags, layout=LAYOUT)["by_tier"]
    total = summary["Total"]
    for n, tier in enumerate((1, 2, 3)):
        expected = core.loc[tier] if tier in core.index else None
        assert total[1 + n] == (0 if expected is None else expected["members"]), tier
        dollars = 0 if expected is None else expected["dollars"]
        assert total[4 + n] == pytest.approx(dollars), tier
    assert summary[sample.CONTRACTS[0]][1:] == total[1:]


@needs_soffice
def test_libreoffice_recalculates_the_demo_workbook_as_the_engine(tmp_path: Path) -> None:
    """The demo's filled workbook, every row: tier, tier if billed, at risk, dollars."""
    assert cli.main(["demo", "--out", str(tmp_path / "demo")]) == 0
    (path,) = (tmp_path / "demo").glob("*.xlsm")
    rows, payers = engine_vs_libreoffice(path, cli.SAMPLE_MONTH, tmp_path)
    assert rows > 200
    own = set(BOOK.rates["payer"]) - {"*"}
    assert own & payers, "a payer with its own rates is in the demo"


@needs_soffice
def test_libreoffice_follows_each_payers_rates_and_hours_basis(tmp_path: Path) -> None:
    """Own rates (Sample Health Plan), the authorized-hours basis and the default payer."""
    rows = sample.generate_extract(36, "2025-03", LAYOUT, BOOK, mangle=False)
    contract = LAYOUT.name_of("contract")
    plans = ["Sample Health Plan PMPM", "Authorized Example Plan", "Metro MLTC"]
    rows[contract] = [plans[i % 3] for i in range(len(rows))]
    billed, unbilled = LAYOUT.name_of("billed_hours"), LAYOUT.name_of("unbilled_hours")
    authorized = LAYOUT.name_of("authorized_hours")
    hours = [150, 158, 165, 470, 478, 490, 12, 0.5, 159.99]
    rows[billed] = [f"{hours[i % len(hours)]:g}" for i in range(len(rows))]
    rows[unbilled] = [f"{(i % 4) * 3:g}" for i in range(len(rows))]
    rows[authorized] = [f"{100 + 40 * (i % 13):g}" for i in range(len(rows))]
    path = template.build_template(
        tmp_path / "payers.xlsm", LAYOUT, BOOK, rows=rows, billing_month=date(2025, 3, 1)
    )
    # The engine on the rows themselves: a column the workbook lost would show here.
    n, payers = engine_vs_libreoffice(path, "2025-03", tmp_path, rows)
    assert n == len(rows)
    assert {"Sample Health Plan", "Authorized Example Plan", "*"} <= payers


@needs_soffice
def test_libreoffice_follows_a_basis_added_as_one_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A basis added as one `HoursBasis` row (billed + unbilled hours count now): the
    workbook's generated formula recalculates as the engine, beside the bundled bases."""
    scheduled = HoursBasis("scheduled", ("billed", "unbilled"), ("billed", "unbilled"), "test")
    monkeypatch.setattr(hours_basis, "BASES", (*hours_basis.BASES, scheduled))
    payers = tmp_path / "payers.csv"
    payers.write_text(
        files.bundled("payers.csv").read_text(encoding="utf-8").rstrip("\n")
        + "\nScheduled Plan,Scheduled Plan*,scheduled,month,90,warning,no,,,test payer\n",
        encoding="utf-8",
    )
    book = files.load_rate_book(payers=payers)
    rows = sample.generate_extract(24, "2025-03", LAYOUT, book, mangle=False)
    plans = ["Scheduled Plan PMPM", "Authorized Example Plan", "Metro MLTC"]
    rows[LAYOUT.name_of("contract")] = [plans[i % 3] for i in range(len(rows))]
    hours = [150, 158, 470, 12, 0.5]
    rows[LAYOUT.name_of("billed_hours")] = [f"{hours[i % 5]:g}" for i in range(len(rows))]
    rows[LAYOUT.name_of("unbilled_hours")] = [f"{(i % 4) * 3:g}" for i in range(len(rows))]
    rows[LAYOUT.name_of("authorized_hours")] = [f"{100 + 40 * (i % 13):g}" for i in range(24)]
    path = template.build_template(
        tmp_path / "bases.xlsm", LAYOUT, book, rows=rows, billing_month=date(2025, 3, 1)
    )
    n, seen = engine_vs_libreoffice(path, "2025-03", tmp_path, rows, book)
    assert n == len(rows) and {"Scheduled Plan", "Authorized Example Plan"} <= seen


def test_the_demo_workbook_shows_the_month_after_review(tmp_path: Path) -> None:
    """Deferred holds the review's archive, Export History the ledger, KPI its figures."""
    assert cli.main(["demo", "--out", str(tmp_path / "demo")]) == 0
    (path,) = (tmp_path / "demo").glob("*.xlsm")
    wb = openpyxl.load_workbook(path)
    (archive,) = (tmp_path / "demo" / "archive").glob("*.csv")
    kept = pd.read_csv(archive, dtype=str)
    deferred = [r for r in wb["Deferred"].iter_rows(min_row=2, values_only=True) if any(r)]
    assert len(deferred) == len(kept) > 0
    assert {r[list(ARCHIVE_META).index("action")] for r in deferred} == {"delete", "defer"}
    assert wb["Deferred"].tables["Deferred"].ref.endswith(str(len(kept) + 1))
    db = tmp_path / "demo" / ledger.LEDGER_NAME
    entries = ledger.history(db)
    history = [r for r in wb["Export History"].iter_rows(min_row=2, values_only=True) if any(r)]
    assert len(history) == len(entries) == 290
    patient = ledger.ENTRY_COLUMNS.index("patient_number")
    assert sorted(r[patient] for r in history) == sorted(entries["patient_number"])
    by_month = kpi.kpi_tables(entries, BOOK)["by_month"]
    first = sheets.kpi_first_columns()["by_month"]
    row = [c.value for c in wb["KPI"][2]][first - 1 : first - 1 + len(by_month.columns)]
    assert len(by_month) == 1 and row[0] == cli.SAMPLE_MONTH
    assert row == pytest.approx(by_month.iloc[0].tolist())


def _text(title: object) -> str:
    """A chart or axis title's text (rich text runs joined); "" when it has none."""
    rich = getattr(getattr(title, "tx", None), "rich", None)
    if rich is None:
        return ""
    return "".join(run.t for p in rich.p for run in (p.r or []))


def test_the_demo_workbook_speaks_the_billers_words(tmp_path: Path) -> None:
    """Every header, table column, chart title, axis title and series name of the demo
    workbook is in words: no identifier_with_underscores, no engine jargon, and no cell
    shows TRUE or FALSE."""
    assert cli.main(["demo", "--out", str(tmp_path / "demo")]) == 0
    (path,) = (tmp_path / "demo").glob("*.xlsm")
    wb = openpyxl.load_workbook(path)
    names: list[tuple[str, object]] = []
    for ws in wb:
        if ws.title == vocabulary.CONFIG:  # xlwings' own keys, read by xlwings
            continue
        for cell in ws[1]:
            if isinstance(cell.value, str) and not cell.value.startswith("="):
                names.append((f"{ws.title}!{cell.coordinate}", cell.value))
        for table in ws.tables.values():
            for column in table.tableColumns:
                names.append((f"{ws.title} table {table.name}", column.name))
        for n, chart in enumerate(ws._charts):
            names.append((f"{ws.title} chart {n}", _text(chart.title)))
            for axis in (chart.x_axis, chart.y_axis):
                names.append((f"{ws.title} chart {n} axis", _text(axis.title)))
            for series in chart.series:
                sheet, cell = series.tx.strRef.f.split("!")
                names.append(
                    (
                        f"{ws.title} chart {n} series",
                        wb[sheet.strip("'")][cell.replace("$", "")].value,
                    )
                )
        booleans = [
            c.coordinate for row in ws.iter_rows() for c in row if isinstance(c.value, bool)
        ]
        assert not booleans, (ws.title, booleans[:5])
    assert len(names) > 100
    for where, name in names:
        assert name, where
        assert not re.search(r"[A-Za-z0-9]_[A-Za-z0-9]", str(name)), (where, name)
        assert str(name).upper() not in ("TRUE", "FALSE"), (where, name)
        assert "(engine)" not in str(name), (where, name)
    # The At risk column shows Yes or nothing, and the Summary counts the Yes rows.
    formulas = template.engine_formulas(LAYOUT, sheets.table_name("All"))
    assert formulas["At risk"].endswith(',"Yes","")')
    assert '"Yes"' in wb["Summary"]["C2"].value


def test_help_prints_at_8_pt_or_more_its_title_on_every_page(built: Path) -> None:
    """Help printed one page wide was about 4 pt: now the report sheets' scale, its two
    columns within a landscape page's width at that scale, every text wrapped in its
    column (none runs past the page edge), the title row on every page."""
    wb = openpyxl.load_workbook(built)
    ws = wb[vocabulary.HELP]
    assert not ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.orientation == "landscape" and ws.print_title_rows == "$1:$1"
    cells = [c for row in ws.iter_rows() for c in row if c.value]
    sizes = {c.font.sz or wb._fonts[0].sz for c in cells}
    assert min(sizes) * ws.page_setup.scale / 100 >= 8, sizes
    assert all(c.alignment.wrap_text for c in cells)
    assert ws.print_area == f"'{vocabulary.HELP}'!$A$1:$B${ws.max_row}"
    # Excel's column width w is 7 w + 5 pixels at 96 per inch (Calibri 11).
    inches = sum(7 * ws.column_dimensions[c].width + 5 for c in "AB") / 96
    margins = ws.page_margins.left + ws.page_margins.right
    assert inches * ws.page_setup.scale / 100 <= 11 - margins, inches


def test_each_chart_prints_whole_on_one_page(built: Path) -> None:
    """Summary and KPI print landscape, one page wide; every chart's cells lie inside the
    print area, and no page break (KPI: one chart per page) cuts through a chart."""
    from openpyxl.utils.cell import range_boundaries

    wb = openpyxl.load_workbook(built)
    for name in (vocabulary.SUMMARY, vocabulary.KPI):
        ws = wb[name]
        assert ws.page_setup.orientation == "landscape", name
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        left, top, right, bottom = range_boundaries(ws.print_area.split("!")[1].replace("$", ""))
        breaks = [b.id for b in ws.row_breaks.brk]
        assert ws._charts, name
        spans = []
        for chart in ws._charts:
            first_col, first_row = chart.anchor._from.col + 1, chart.anchor._from.row + 1
            # 18 x 8.5 cm at Excel's default column width (~1.7 cm) and row height (0.53 cm)
            last_col = first_col + math.ceil(chart.width / 1.69) - 1
            last_row = first_row + math.ceil(chart.height / 0.53) - 1
            assert left <= first_col and last_col <= right, (name, chart.anchor._from)
            assert top <= first_row and last_row <= bottom, (name, chart.anchor._from)
            assert not [b for b in breaks if first_row <= b < last_row], (name, breaks)
            spans.append((first_row, last_row))
        if name == vocabulary.KPI:  # one chart per page
            spans.sort()
            for (_, end), (start, _) in itertools.pairwise(spans):
                assert any(end <= b < start for b in breaks), (spans, breaks)
        else:  # the Summary: tables, both charts and the Unbilled line on one page
            assert ws.page_setup.fitToHeight == 1
            (line,) = [c.row for c in ws["A"] if c.value == book_sheets.UNBILLED_LINE_LABEL]
            assert top <= line <= bottom


# Table[Column], Table[[#This Row],[Column]] and Table[[#Headers],[Column]].
STRUCTURED_REF = re.compile(r"\b([A-Za-z_][\w.]*)\[(?:\[#[^\]]+\],)?\[?([^\[\]#][^\[\]]*)\]?\]")


def test_every_structured_reference_names_a_column_its_table_has(tmp_path: Path) -> None:
    """Excel refuses a formula whose structured reference names a column the table lacks
    (it repairs the file by dropping the formula); LibreOffice is lenient, so check here:
    every formula of the demo workbook, the empty template and the sheets Load writes."""
    assert cli.main(["demo", "--out", str(tmp_path / "demo")]) == 0
    (demo,) = (tmp_path / "demo").glob("*.xlsm")
    built = template.build_template(tmp_path / "empty.xlsm", LAYOUT, BOOK)
    checked = 0
    for path in (demo, built):
        wb = openpyxl.load_workbook(path)
        columns = {
            table.name: {c.name for c in table.tableColumns}
            for ws in wb
            for table in ws.tables.values()
        }
        formulas = [
            (f"{ws.title}!{cell.coordinate}", cell.value)
            for ws in wb
            for row in ws.iter_rows(max_row=min(ws.max_row, 40))
            for cell in row
            if isinstance(cell.value, str) and cell.value.startswith("=")
        ]
        # What Load writes: the formulas of the table's own columns.
        load = engine_formulas(LAYOUT, "Report_All", columns["Report_All"])
        formulas += [(f"Load {n}", f) for n, f in load.items()]
        for where, formula in formulas:
            for table, column in STRUCTURED_REF.findall(formula):
                if table in columns:
                    assert column in columns[table], f"{path.name} {where}: {table}[{column}]"
                    checked += 1
    assert checked > 100


def test_at_risk_reads_apart_from_the_tier_beside_it(tmp_path: Path) -> None:
    """At risk ("Yes") is centred on every data row: left-aligned beside Tier if billed's
    right-aligned number it read as "2Yes"."""
    rows = sample.generate_extract(12, "2025-03", LAYOUT, BOOK, mangle=False)
    path = template.build_template(
        tmp_path / "filled.xlsm", LAYOUT, BOOK, rows=rows, billing_month=date(2025, 3, 1)
    )
    ws = openpyxl.load_workbook(path)["All"]
    column = [c.value for c in ws[1]].index("At risk") + 1
    aligned = {ws.cell(r, column).alignment.horizontal for r in range(2, len(rows) + 2)}
    assert aligned == {"center"}
