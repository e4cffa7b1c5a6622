"""The Summary sheet's Unbilled line, recalculated by LibreOffice over what the button wrote.

The Unbilled button runs through the harness (the real template, xlwings' remote
engine); the rows it wrote go into the built workbook's Unbilled table, and LibreOffice
recalculates the Summary's live line over them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from excel_harness import ExcelHarness
from libreoffice import needs_soffice
from libreoffice import summary_line as recalculated_summary_line
from test_frontend import _unbilled_visits, step, type_settings, workbook

from xl_pmpm.core import vocabulary
from xl_pmpm.excel import frontend as fe
from xl_pmpm.io import files
from xl_pmpm.io.unbilled import unbilled_from_files
from xl_pmpm.io.visits_reader import load_mapping
from xl_pmpm.workbook import sheets
from xl_pmpm.workbook.book_sheets import UNBILLED_LINE_LABEL


def summary_line(grid: list[list[object]], tmp_path: Path, name: str) -> str:
    """The Summary's Unbilled line once LibreOffice recalculates a workbook whose
    Unbilled table holds `grid` (header first)."""
    return recalculated_summary_line(
        vocabulary.UNBILLED, vocabulary.UNBILLED_TABLE, UNBILLED_LINE_LABEL, grid, tmp_path, name
    )


@needs_soffice
@pytest.mark.slow
def test_summary_line_follows_the_unbilled_button(excel: ExcelHarness, tmp_path: Path) -> None:
    mapping = load_mapping()
    sept = _unbilled_visits(tmp_path / "sept.csv", 6)
    aug = _unbilled_visits(tmp_path / "aug.csv", 3, "2026-08")
    p, _ = workbook(excel, tmp_path / "book", 1)
    type_settings(p, {"Visits files": f"{sept}; {aug}", "As-of date": "2026-11-20"})
    p, _ = step(excel, p, fe.show_unbilled)
    found = unbilled_from_files(
        [sept, aug],
        mapping,
        files.load_layout(),
        files.load_rate_book(),
        date(2026, 11, 20),
        ledger_path=None,
    ).unbilled
    t = found.totals()
    assert t["recoverable_member_months"] == 9 and t["nearest_deadline"] == "2026-11-29"
    grid = excel.sheet_values(p, vocabulary.UNBILLED)
    assert grid[0] == sheets.UNBILLED_HEADERS and len(grid) == 10
    expected = f"${t['recoverable_dollars']:,.2f} recoverable, nearest deadline 2026-11-29"
    assert summary_line(grid, tmp_path, "filled") == expected

    # August's window closed: its rows are lost, nothing recoverable is left.
    type_settings(p, {"Visits files": str(aug), "As-of date": "2026-12-01"})
    p, _ = step(excel, p, fe.show_unbilled)
    grid = excel.sheet_values(p, vocabulary.UNBILLED)
    assert [row[0] for row in grid[1:]] == ["lost"] * 3
    assert summary_line(grid, tmp_path, "lost").startswith("$0 recoverable (press Unbilled")
    # The template as built: the table's one blank row.
    assert summary_line([], tmp_path, "empty").startswith("$0 recoverable (press Unbilled")
