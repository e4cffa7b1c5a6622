"""The report sheets' streamed rows and the sheets' ignoredErrors, read from a built workbook."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import openpyxl
import pytest

from benchmarks import sample
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.review import ARCHIVE_META
from xl_pmpm.io import files
from xl_pmpm.workbook import template

LAYOUT = files.load_layout()
BOOK = files.load_rate_book()
NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
# ECMA-376 Part 1, CT_Worksheet: the order of a worksheet's child elements.
WORKSHEET_ORDER = [
    "sheetPr",
    "dimension",
    "sheetViews",
    "sheetFormatPr",
    "cols",
    "sheetData",
    "sheetCalcPr",
    "sheetProtection",
    "protectedRanges",
    "scenarios",
    "autoFilter",
    "sortState",
    "dataConsolidate",
    "customSheetViews",
    "mergeCells",
    "phoneticPr",
    "conditionalFormatting",
    "dataValidations",
    "hyperlinks",
    "printOptions",
    "pageMargins",
    "pageSetup",
    "headerFooter",
    "rowBreaks",
    "colBreaks",
    "customProperties",
    "cellWatches",
    "ignoredErrors",
    "smartTags",
    "drawing",
    "legacyDrawing",
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
]


def _sheet_xml(path: Path) -> dict[str, ET.Element]:
    """{sheet name: its parsed worksheet XML} of a built workbook."""
    with zipfile.ZipFile(path) as z:
        book = ET.fromstring(z.read("xl/workbook.xml"))
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        target = {r.get("Id"): r.get("Target").lstrip("/") for r in rels}
        return {
            s.get("name"): ET.fromstring(z.read(target[s.get(f"{NS_R}id")]))
            for s in book.iter(f"{NS}sheet")
        }


def _letters_of(sqref: str) -> set[str]:
    """The column letters an sqref of whole-column runs (``B2:D1048576 F2:F1048576``) covers."""
    out = set()
    for run in sqref.split():
        first, last = (re.match(r"([A-Z]+)2$|([A-Z]+)1048576$", p) for p in run.split(":"))
        a, b = first[1], last[2]
        out |= {openpyxl.utils.get_column_letter(c) for c in range(_col(a), _col(b) + 1)}
    return out


def _col(letters: str) -> int:
    return openpyxl.utils.column_index_from_string(letters)


def _text_letters(layout: Layout, first: int, names: object = None) -> set[str]:
    """Letters of the text columns (by their type; IDs are text) from column `first`, of the
    layout's sheet columns (those among `names` when given: a filled book's)."""
    columns = [c for c in layout.sheet_columns if names is None or c.name in names]
    return {
        openpyxl.utils.get_column_letter(first + i)
        for i, c in enumerate(columns)
        if c.id or c.type != "number"
    }


def _ignored_as_text(ws: ET.Element) -> set[str]:
    (errors,) = ws.findall(f"{NS}ignoredErrors")
    (error,) = errors.findall(f"{NS}ignoredError")
    assert error.get("numberStoredAsText") == "1"
    return _letters_of(error.get("sqref"))


def _assert_schema_order(ws: ET.Element) -> None:
    tags = [child.tag.removeprefix(NS) for child in ws]
    positions = [WORKSHEET_ORDER.index(t) for t in tags]
    assert positions == sorted(positions), tags


def _own_layout() -> Layout:
    """The bundled layout with Patient Number moved last and Caregiver Code made a number."""
    columns = [
        dataclasses.replace(c, type="number", decimals=0) if c.role == "caregiver_code" else c
        for c in LAYOUT.columns
    ]
    patient = next(c for c in columns if c.role == "patient_number")
    columns = [c for c in columns if c is not patient] + [patient]
    return dataclasses.replace(LAYOUT, columns=tuple(columns), _by_role={})


@pytest.mark.parametrize("layout", [LAYOUT, _own_layout()], ids=["bundled", "own"])
def test_ignored_errors_cover_the_layouts_text_columns(layout: Layout, tmp_path: Path) -> None:
    rows = sample.generate_extract(24, "2025-03", layout, BOOK, mangle=False)
    deferred = rows.head(3).assign(**{k: "x" for k in ARCHIVE_META})
    filled = template.build_template(
        tmp_path / "f.xlsm", layout, BOOK, rows=rows, deferred=deferred
    )
    empty = template.build_template(tmp_path / "t.xlsm", layout, BOOK)
    report = _text_letters(layout, first=2)
    assert report and "A" not in report  # Line is a number
    if layout is not LAYOUT:
        assert report != _text_letters(LAYOUT, first=2)
    for path in (filled, empty):
        report = _text_letters(layout, 2, set(rows.columns) if path == filled else None)
        xml = _sheet_xml(path)
        contracts = template.report_sheet_names(template.extract_contracts(rows, layout))
        reports = ["All"] + (list(contracts.values()) if path == filled else [])
        for name in reports:
            assert _ignored_as_text(xml[name]) == report, name
            _assert_schema_order(xml[name])
        deferred_letters = _text_letters(layout, first=len(ARCHIVE_META) + 1)
        assert _ignored_as_text(xml["Deferred"]) == deferred_letters
        _assert_schema_order(xml["Deferred"])
        assert not xml["Summary"].findall(f"{NS}ignoredErrors")


def test_streamed_rows_read_back_as_written(tmp_path: Path) -> None:
    rows = sample.generate_extract(12, "2025-03", LAYOUT, BOOK, mangle=False)
    name, billed = LAYOUT.name_of("patient_name"), LAYOUT.name_of("billed_hours")
    rows.loc[rows.index[0], name] = 'Ann & "Bo" <Lee>'
    rows.loc[rows.index[1], name] = "  two spaces each side  "
    rows.loc[rows.index[2], name] = ""
    rows.loc[rows.index[3], billed] = "n/a"  # text in a number column stays text
    rows.loc[rows.index[4], billed] = "12.5"
    path = template.build_template(tmp_path / "f.xlsm", LAYOUT, BOOK, rows=rows)
    wb = openpyxl.load_workbook(path)
    ws = wb["All"]
    header = [c.value for c in ws[1]]
    data = [[c.value for c in r] for r in ws.iter_rows(min_row=2, max_row=len(rows) + 1)]
    got = {h: [r[i] for r in data] for i, h in enumerate(header)}
    assert list(got["Line"]) == list(rows.index)
    assert list(got[name][:3]) == ['Ann & "Bo" <Lee>', "  two spaces each side  ", None]
    assert got[billed][3] == "n/a" and got[billed][4] == 12.5
    for c in LAYOUT.export_columns:
        if c.id:
            assert list(got[c.name]) == list(rows[c.name]), c.name  # leading zeros kept
    # Each formula column: the whole formula in every cell, as Excel writes a calculated
    # column, the same text as the table's calculatedColumnFormula; no shared formula.
    formulas = template.engine_formulas(LAYOUT, template.table_name("All"), list(rows.columns))
    for h, formula in formulas.items():
        assert set(got[h]) == {formula}, h
    calculated = {c.name: c.calculatedColumnFormula for c in ws.tables["Report_All"].tableColumns}
    sheet = _sheet_xml(path)["All"]
    cells = [c for row in sheet.iter(f"{NS}row") for c in row if c.find(f"{NS}f") is not None]
    assert len(cells) == len(formulas) * len(rows)
    assert all(c.find(f"{NS}f").get("t") is None for c in cells)
    for h, formula in formulas.items():
        assert calculated[h].attr_text == formula[1:], h
    texts = {c.find(f"{NS}f").text for c in cells}
    assert texts == {f[1:] for f in formulas.values()}


def test_a_control_character_names_the_row_and_column(tmp_path: Path) -> None:
    rows = sample.generate_extract(12, "2025-03", LAYOUT, BOOK, mangle=False)
    name = LAYOUT.name_of("patient_name")
    rows.loc[rows.index[5], name] = "Ann\x07Lee"
    with pytest.raises(PmpmInputError) as err:
        template.build_template(tmp_path / "f.xlsm", LAYOUT, BOOK, rows=rows)
    assert err.value.row == rows.index[5] and err.value.column == name
    assert "Ann" not in str(err.value)  # no member data in the message
    assert not list(tmp_path.iterdir())  # nothing left behind
