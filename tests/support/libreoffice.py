"""LibreOffice as the tests' spreadsheet: convert a workbook headless (recalculating every
formula on load) and compare its recalculated report rows with the engine's answer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from xl_pmpm.core import vocabulary
from xl_pmpm.core.flags import flag_tier_risk
from xl_pmpm.core.rates import RateBook
from xl_pmpm.io import files
from xl_pmpm.workbook import template

LAYOUT = files.load_layout()
BOOK = files.load_rate_book()
SOFFICE = shutil.which("soffice")
needs_soffice = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) not on PATH")
# Always recalculate OOXML files on load (0 = always), whatever the profile's default.
RECALC_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode"
 oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode"
 oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice_convert(source: Path, to: str, tmp_path: Path) -> Path:
    """Convert with LibreOffice headless in a fresh profile; return the output file."""
    profile = tmp_path / f"profile-{to}"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(RECALC_XCU)
    out_dir = tmp_path / f"out-{to}"
    result = subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            to,
            "--outdir",
            str(out_dir),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = out_dir / f"{source.stem}.{to}"
    assert out.exists(), result.stdout + result.stderr
    return out


def blank(value: object) -> object:
    return None if value in ("", None) else value


def assert_row_is_the_engines(
    values: tuple, col: dict[str, int], expected: pd.Series, where: str
) -> None:
    """A recalculated report row's tier columns equal flag_tier_risk's answer for it."""
    tier = None if pd.isna(expected["tier"]) else int(expected["tier"])
    after = None if pd.isna(expected["tier_if_billed"]) else int(expected["tier_if_billed"])
    assert blank(values[col["Tier now"]]) == tier, where
    assert blank(values[col["Tier if billed"]]) == after, where
    risky = "Yes" if expected["at_risk"] else None
    assert blank(values[col["At risk"]]) == risky, where
    assert values[col["Dollar effect"]] == pytest.approx(expected["dollar_effect"]), where


def engine_vs_libreoffice(
    path: Path,
    month: str,
    tmp_path: Path,
    table: pd.DataFrame | None = None,
    book: RateBook = BOOK,
) -> tuple[int, set[str]]:
    """Recalculate `path` in LibreOffice; compare every All row with flag_tier_risk run
    on `table`, the rows the workbook was filled from (default: the workbook's own
    read-back, where the rows are not at hand).

    Returns (rows compared, payers seen).
    """
    from xl_pmpm.io.workbook_reader import parse_workbook_report

    if table is None:
        table = parse_workbook_report(path.read_bytes(), LAYOUT).table
    flags = flag_tier_risk(table, LAYOUT, book, pd.Timestamp(f"{month}-01"))
    wb = openpyxl.load_workbook(soffice_convert(path, "xlsx", tmp_path), data_only=True)
    headers = [c.value for c in wb["All"][1]]
    col = {h: headers.index(h) for h in ["Line", *template.ENGINE_COLUMNS]}
    got = [
        row
        for row in wb["All"].iter_rows(min_row=2, values_only=True)
        if row[col["Line"]] is not None
    ]
    assert len(got) == len(flags)
    for values, (_, expected) in zip(got, flags.iterrows(), strict=True):
        where = (
            f"line {values[col['Line']]}, payer {expected['payer']}, "
            f"billed {expected['billed_hours']}"
        )
        assert_row_is_the_engines(values, col, expected, where)
    return len(flags), set(flags["payer"])


def summary_line(
    sheet: str, table_name: str, label: str, grid: list[list[object]], tmp_path: Path, name: str
) -> str:
    """The Summary's line `label` once LibreOffice recalculates the built workbook whose
    table `table_name` on `sheet` holds `grid` (header first)."""
    built = template.build_template(tmp_path / f"{name}.xlsm", LAYOUT, BOOK)
    wb = openpyxl.load_workbook(built)
    ws = wb[sheet]
    for r, row in enumerate(grid, start=1):
        for c, value in enumerate(row, start=1):
            ws.cell(r, c).value = value
    table = ws.tables[table_name]
    last = table.ref.split(":")[1].rstrip("0123456789")
    table.ref = table.autoFilter.ref = f"A1:{last}{max(len(grid), 2)}"
    path = tmp_path / f"{name}.xlsx"
    wb.save(path)
    got = openpyxl.load_workbook(soffice_convert(path, "xlsx", tmp_path / name), data_only=True)
    rows = [row for row in got[vocabulary.SUMMARY].iter_rows(values_only=True)]
    (line,) = [row[1] for row in rows if row[0] == label]
    return line
