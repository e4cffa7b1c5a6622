"""The workbook's Paid button and Summary line: the 835 remittances of an exported month on
the Paid sheet, and "$N paid of $M billed" once LibreOffice recalculates the Summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run
from excel_harness import ExcelHarness
from libreoffice import needs_soffice
from libreoffice import summary_line as recalculated_summary_line
from test_frontend import step, type_settings, workbook
from x12_835 import claim, interchange, transaction

from xl_pmpm.core import vocabulary
from xl_pmpm.excel import frontend as fe
from xl_pmpm.io import ledger
from xl_pmpm.workbook import sheets
from xl_pmpm.workbook.book_sheets import PAID_LINE_LABEL

CODE = {1: "2443", 2: "2444", 3: "2445"}


def summary_line(grid: list[list[object]], tmp_path: Path, name: str) -> str:
    """The Summary's Paid line once LibreOffice recalculates a workbook whose
    Paid table holds `grid` (header first)."""
    return recalculated_summary_line(
        vocabulary.PAID, vocabulary.PAID_TABLE, PAID_LINE_LABEL, grid, tmp_path, name
    )


@needs_soffice
@pytest.mark.slow
def test_the_paid_button_fills_the_paid_sheet_and_the_summary_line(
    excel: ExcelHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p, _ = workbook(excel, tmp_path / "book", 4, mangle=False, below_minimum=False)
    extract = next(s for s in p["sheets"] if s["name"] == "Settings")["values"]
    source = Path(next(row[1] for row in extract if row[0] == "Extract file"))
    db = tmp_path / "ledger.sqlite3"
    argv = ["export", source, "--out", tmp_path / "x", "--ledger", db, "--as-of", "2026-11-03"]
    assert run(capsys, *argv)[0] == 0
    first, second = ledger.history(str(db)).to_dict("records")[:2]
    rate1, rate2 = float(first["rate"]), float(second["rate"])
    remit = tmp_path / "oct.835"
    remit.write_text(
        interchange(
            [
                transaction(
                    "PLAN",
                    [
                        claim(first["patient_number"], "1", rate1, rate1,
                              code=CODE[int(first["tier"])]),
                        claim(second["patient_number"], "4", rate2, 0.0,
                              cas=[("CO", "16", rate2)]),
                    ],
                )
            ]
        )
    )  # fmt: skip
    type_settings(
        p, {"Remittance files": str(remit), "Ledger file": str(db), "As-of date": "2026-12-01"}
    )
    p, _ = step(excel, p, fe.show_paid)
    grid = excel.sheet_values(p, vocabulary.PAID)
    assert grid[0] == sheets.PAID_HEADERS
    rows = {row[sheets.PAID_HEADERS.index("Patient Number")]: row for row in grid[1:]}
    result = sheets.PAID_HEADERS.index("Result")
    assert rows[second["patient_number"]][result] == "denied"
    assert grid[1][result] == "denied"  # what can be recovered first
    assert rows[second["patient_number"]][sheets.PAID_HEADERS.index("Reason code")] == "CO-16"
    expected = f"${rate1:,.2f} paid of ${rate1 + rate2:,.2f} billed"
    assert summary_line(grid, tmp_path, "filled") == expected
    assert summary_line([], tmp_path, "empty") == "(press Paid to read the 835 remittances)"
