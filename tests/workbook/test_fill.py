"""`xl-pmpm fill EXTRACT --out BOOK.xlsm`: the workbook reads as its extract does.

`xl-pmpm validate BOOK` gives the findings `xl-pmpm validate EXTRACT` gives (codes and
the extract's lines), for every readable file of the bad-input corpus and for an
extract with an authorized-hours payer, payers with their own rates and hours at the
tier edges; LibreOffice's recalculation of the book's tier columns equals the engine
run on the extract itself (not on the book's read-back, which would hide a column the
book lost).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from cli_helpers import run
from libreoffice import assert_row_is_the_engines, needs_soffice, soffice_convert

from benchmarks import sample
from benchmarks.sample import extract_csv
from xl_pmpm.core.flags import flag_tier_risk
from xl_pmpm.io import files
from xl_pmpm.workbook import template

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
MANIFEST = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
AS_OF = MANIFEST["as_of"]
LAYOUT = files.load_layout()
BOOK = files.load_rate_book()
# Findings about the CSV file's own form, which a workbook cannot have: its bytes
# (encoding, delimiter, line ends), the shape of its lines, its header line's text and
# order. The fill writes the rows' values under the layout's headers.
FILE_FORM = {
    "not-csv",
    "encoding",
    "delimiter",
    "lone-cr",
    "ragged-row",
    "header-variant",
    "column-order",
    "extra-column",
    "duplicate-column",
}
READABLE = sorted(
    name
    for name, case in MANIFEST["files"].items()
    if "error" not in case and name.endswith(".csv")
)


def _validate(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> tuple[int, dict]:
    code, out, _ = run(capsys, "validate", path, "--as-of", AS_OF, "--format", "json", *extra)
    return code, json.loads(out) if out.strip() else {}


def _book_lines(book: Path) -> dict[int, int]:
    """{Excel row on All: the extract's line (its Line cell)}."""
    ws = openpyxl.load_workbook(book, read_only=True)["All"]
    return {
        r: int(row[0])
        for r, row in enumerate(ws.iter_rows(min_row=2, max_col=1, values_only=True), start=2)
        if row[0] is not None
    }


def _findings(
    result: dict, lines: dict[int, int] | None = None, last: int | None = None
) -> list[tuple[str, object]]:
    """(code, the extract's line) of every error and warning, the CSV's own form aside.

    `lines` maps the book's rows to the extract's lines; `last` is the extract's last row:
    blank lines after it pad the file's end, and the book has no such lines."""
    found = []
    for f in result.get("errors", []) + result.get("warnings", []):
        code, row = f["code"], f.get("row")
        if code in FILE_FORM:
            continue
        if code == "blank-row" and last is not None and row and row > last:
            continue
        if lines is not None and row and row > 1:
            row = lines.get(row, row)
        found.append((code, row))
    return sorted(found, key=str)


def _fill(capsys: pytest.CaptureFixture[str], extract: Path, out: Path, *extra: str) -> Path:
    code, stdout, err = run(capsys, "fill", extract, "--out", out, *extra)
    assert code == 0, err
    assert out.exists() and f"Wrote {out.name}" in stdout
    return out


@pytest.mark.slow
def test_validating_the_filled_book_gives_the_extracts_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    compared = 0
    for name in READABLE:
        extract = CORPUS / "files" / name
        code, from_csv = _validate(capsys, extract)
        if code == 2:  # unreadable: fill refuses it the same way
            assert run(capsys, "fill", extract, "--out", tmp_path / f"{name}.xlsm")[0] == 2
            continue
        book = _fill(capsys, extract, tmp_path / f"{Path(name).stem}.xlsm")
        book_code, from_book = _validate(capsys, book)
        lines = _book_lines(book)
        table = files.read_tier_report(extract, LAYOUT).table
        filled = table[
            (table.fillna("").astype(str).apply(lambda c: c.str.strip()) != "").any(axis=1)
        ]
        want = _findings(from_csv, last=int(filled.index.max()) if len(filled) else 1)
        assert _findings(from_book, lines) == want, name
        errors = {c for c, _ in want} & {f["code"] for f in from_csv["errors"]}
        assert book_code == (1 if errors else 0), name
        compared += 1
    assert compared >= 80


def _authorized_extract() -> pd.DataFrame:
    """Three payers (default, own rates, authorized hours), hours at every tier edge; the
    Tier and service code as the payer's rule gives them (a clean extract)."""
    rows = sample.generate_extract(36, "2025-03", LAYOUT, BOOK, mangle=False)
    plans = ["Authorized Example Plan", "Sample Health Plan PMPM", "Linked - Metro MLTC CDPAP"]
    billed = [1, 159.99, 160, 479.99, 480, 155, 470, 700, 1.5]
    authorized = [159.99, 160, 479.99, 480, 12, 1]
    contracts = pd.Series([plans[i % 3] for i in range(len(rows))], index=rows.index)
    rows[LAYOUT.name_of("contract")] = contracts
    rows[LAYOUT.name_of("billed_hours")] = [f"{billed[i % 9]:g}" for i in range(len(rows))]
    rows[LAYOUT.name_of("unbilled_hours")] = [f"{(i % 4) * 3:g}" for i in range(len(rows))]
    rows[LAYOUT.name_of("authorized_hours")] = [f"{authorized[i % 6]:g}" for i in range(len(rows))]
    rows[LAYOUT.name_of("discipline")] = "PA"
    flags = flag_tier_risk(rows, LAYOUT, BOOK, pd.Timestamp("2025-03-01"))
    rows[LAYOUT.name_of("tier")] = [str(int(t)) for t in flags["tier"]]
    rows[LAYOUT.name_of("service_code")] = flags["service_code"].to_numpy()
    return rows


@pytest.fixture(scope="module")
def authorized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("authorized") / "march.csv"
    path.write_bytes(extract_csv(_authorized_extract()))
    return path


def test_an_authorized_hours_payer_reads_the_same_in_the_book(
    authorized: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, from_csv = _validate(capsys, authorized)
    book = _fill(capsys, authorized, tmp_path / "march.xlsm")
    book_code, from_book = _validate(capsys, book)
    assert (book_code, _findings(from_book, _book_lines(book))) == (code, _findings(from_csv))
    assert not [f for f in from_book["errors"] if f["code"] == "required"]
    # Authorized Hours is on every report sheet, shown; the import file leaves it out.
    wb = openpyxl.load_workbook(book)
    name = LAYOUT.name_of("authorized_hours")
    for ws in (
        wb["All"],
        wb[template.report_sheet_names(["Authorized Example Plan"])["Authorized Example Plan"]],
    ):
        headers = [c.value for c in ws[1]]
        assert name in headers
        assert (
            ws.column_dimensions[openpyxl.utils.get_column_letter(headers.index(name) + 1)].hidden
            is not True
        )
    code, out, err = run(
        capsys, "export", book, "--out", tmp_path / "upload", "--no-ledger", "--as-of", AS_OF
    )
    assert code == 0, err
    written = list((tmp_path / "upload").glob("*.csv"))
    assert len(written) == 3
    for csv in written:
        assert name not in csv.read_text(encoding="utf-8").splitlines()[0]


def test_fill_refuses_an_existing_file_and_a_non_xlsm_name(
    authorized: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken.xlsm"
    taken.write_bytes(b"mine")
    code, _, err = run(capsys, "fill", authorized, "--out", taken)
    assert code == 2 and "exists already" in err and taken.read_bytes() == b"mine"
    code, _, err = run(capsys, "fill", authorized, "--out", tmp_path / "book.xlsx")
    assert code == 2 and ".xlsm" in err
    assert str(tmp_path) not in err


@needs_soffice
def test_libreoffice_recalculates_the_filled_book_as_the_engine_on_the_extract(
    authorized: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = _fill(capsys, authorized, tmp_path / "march.xlsm")
    report = files.read_tier_report(authorized, LAYOUT)
    flags = flag_tier_risk(report.table, LAYOUT, BOOK, pd.Timestamp("2025-03-01"))
    wb = openpyxl.load_workbook(soffice_convert(book, "xlsx", tmp_path), data_only=True)
    headers = [c.value for c in wb["All"][1]]
    col = {h: headers.index(h) for h in ["Line", *template.ENGINE_COLUMNS]}
    got = {
        int(row[col["Line"]]): row
        for row in wb["All"].iter_rows(min_row=2, values_only=True)
        if row[col["Line"]] is not None
    }
    assert sorted(got) == sorted(int(n) for n in flags.index)
    for line, expected in flags.iterrows():
        where = f"line {line}, payer {expected['payer']}, billed {expected['billed_hours']}"
        assert_row_is_the_engines(got[int(line)], col, expected, where)
    assert set(flags["payer"]) >= {"Authorized Example Plan", "Sample Health Plan", "*"}
    assert flags.loc[flags["payer"] == "Authorized Example Plan", "tier"].notna().all()
    # The Summary counts the authorized-hours contract's members and dollars.
    summary = {r[0]: r for r in wb["Summary"].iter_rows(min_row=2, values_only=True) if r[0]}
    assert sum(summary["Authorized Example Plan"][1:4]) > 0


def test_fill_takes_the_billing_month_from_month(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--month names the billing month (it was an internal error: a text, not a month)."""
    extract = Path(__file__).resolve().parents[2] / "docs" / "examples" / "october.csv"
    out = tmp_path / "given.xlsm"
    code, stdout, stderr = run(capsys, "fill", extract, "--out", out, "--month", "2026-09")
    assert code == 0, stderr
    assert "billing month 2026-09" in stdout
    assert openpyxl.load_workbook(out)["Settings"]["B2"].value.strftime("%Y-%m") == "2026-09"
