"""One workbook, two ways out: the CLI's file mode and the workbook's Export button.

The same filled workbook exported with ``xl-pmpm export FILE`` and through the front
end's Export gives byte-identical import files (file names aside: they carry the
moment of export), and both refuse a changed locked field.
"""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

from excel_harness import ExcelHarness
from test_frontend import step, type_settings

from benchmarks import sample
from xl_pmpm.cli import app as cli
from xl_pmpm.excel import frontend as fe
from xl_pmpm.io import files
from xl_pmpm.workbook import template

MONTH, AS_OF = "2026-10", date(2026, 11, 5)
AGENCY = "Agency ID"


def _filled_workbook(tmp_path: Path) -> tuple[Path, Path]:
    layout, book = files.load_layout(), files.load_rate_book()
    rows = sample.generate_extract(40, MONTH, layout, book, mangle=False, below_minimum=False)
    extract = tmp_path / "extract.csv"
    extract.write_bytes(sample.extract_csv(rows))
    table = files.read_tier_report(extract, layout).table
    data = template.workbook_bytes(
        layout, book, rows=table, billing_month=date(2026, 10, 1), as_of=AS_OF
    )
    path = tmp_path / "filled.xlsm"
    path.write_bytes(data)
    return path, extract


def _exported(folder: Path) -> list[bytes]:
    paths = sorted(folder.glob("*.csv"), key=lambda p: p.name.split("_")[:-1])
    return [p.read_bytes() for p in paths]


def _front_end_payload(excel: ExcelHarness, path: Path, out: Path) -> dict:
    payload = excel.workbook_payload(path.read_bytes(), formula_values={"At risk": ""})
    return type_settings(payload, {"Export folder": str(out), "As-of date": AS_OF.isoformat()})


def test_cli_file_mode_and_the_export_button_write_the_same_bytes(
    excel: ExcelHarness, tmp_path: Path
) -> None:
    path, _ = _filled_workbook(tmp_path)
    by_cli, by_button = tmp_path / "cli", tmp_path / "button"
    code = cli.main(
        ["export", str(path), "--out", str(by_cli), "--no-ledger", "--as-of", AS_OF.isoformat()]
    )
    assert code == 0
    payload = _front_end_payload(excel, path, by_button)
    type_settings(payload, {"Ledger file": str(tmp_path / "button-ledger.sqlite3")})
    after, _ = step(excel, payload, fe.export)
    assert "rows exported" in after["_alerts"][-1]["prompt"], after["_alerts"][-1]["prompt"]
    cli_files, button_files = _exported(by_cli), _exported(by_button)
    assert len(cli_files) == len(button_files) >= 2
    assert cli_files == button_files


def test_both_refuse_a_changed_locked_field(excel: ExcelHarness, tmp_path: Path) -> None:
    path, extract = _filled_workbook(tmp_path)
    payload = _front_end_payload(excel, path, tmp_path / "button")
    sheets = payload["sheets"]
    all_sheet = next(s for s in sheets if s["name"] == "All")
    # The workbook's hidden copy of the extract as loaded, as Load Extract keeps it.
    original = copy.deepcopy(all_sheet)
    original.update(name="_original", tables=[], visibility="Hidden")
    sheets.append(original)
    agency = all_sheet["values"][0].index(AGENCY)
    all_sheet["values"][3][agency] = "99999"
    after, _ = step(excel, payload, fe.export)
    assert after["_alerts"][-1]["prompt"].startswith("Export refused")
    assert not (tmp_path / "button").exists()
    # The CLI: the same edit in a CSV, checked against the extract as downloaded.
    edited = files.read_tier_report(extract, files.load_layout()).table
    edited.iloc[2, edited.columns.get_loc(AGENCY)] = "99999"
    edited_path = tmp_path / "edited.csv"
    edited_path.write_bytes(sample.extract_csv(edited))
    code = cli.main(
        ["export", str(edited_path), "--out", str(tmp_path / "cli"), "--no-ledger"]
        + ["--original", str(extract), "--as-of", AS_OF.isoformat()]
    )
    assert code == 1
    assert not (tmp_path / "cli").exists()
