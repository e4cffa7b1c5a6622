"""Member-data hygiene: owner-only files, no member data in text output or logs, no formulas out.

- Everything xl-pmpm writes (exports, reviewed files, archives, manifests, the
  demo workbook) is 0600 in 0700 folders, even under a permissive umask.
- The text output of every command (and any log file) never shows a member's
  name or ID from the sample extract; messages about a bad cell name the file,
  line and column, never the value.
- No exported cell starts with =, +, - or @: such a value is an error
  (formula-prefix) that stops export, never silently rewritten.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from core_helpers import CAREGIVER, LAYOUT, MONTH, NAME, PATIENT, PAY_RATE, valid_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xl_pmpm.cli import app as cli
from xl_pmpm.core.errors import ExportRefused
from xl_pmpm.core.validation import validate_table
from xl_pmpm.core.value_checks import formula_cells
from xl_pmpm.io import files, workflow

BOOK = files.load_rate_book()
SAMPLE = files.bundled("sample_tier_report.csv")
SAMPLE_TABLE = files.read_tier_report(SAMPLE, LAYOUT).table
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "files"
AS_OF = "2026-11-05"


def member_data() -> list[str]:
    """Every member name and ID of the bundled sample, as the CSV holds them."""
    ids = SAMPLE_TABLE[PATIENT].str.strip()
    names = SAMPLE_TABLE[NAME].str.strip()
    values = set(ids[ids != ""]) | set(names[names != ""])
    values |= {v.lstrip("0") for v in ids if v.isdigit()}  # as a number would show it
    return sorted(v for v in values if len(v) >= 5)


MEMBER_DATA = member_data()


def leaked(text: str) -> list[str]:
    return [v for v in MEMBER_DATA if v in text]


def tree(root: Path) -> Iterator[Path]:
    yield root
    yield from root.rglob("*")


def assert_owner_only(root: Path) -> None:
    for path in tree(root):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def logs_to_file(tmp_path: Path) -> Iterator[Path]:
    """Capture the package's log records, at every level, in a file."""
    path = tmp_path / "xl_pmpm.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger("xl_pmpm")
    old = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(old)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def test_the_sample_has_member_data_to_look_for() -> None:
    assert len(MEMBER_DATA) > 300
    assert any(" " in v for v in MEMBER_DATA)  # names
    assert any(v.isdigit() for v in MEMBER_DATA)  # IDs


def test_demo_and_every_command_show_no_member_data_and_write_owner_only(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    permissive_umask: None,
    logs_to_file: Path,
) -> None:
    demo = tmp_path / "demo"
    outputs = []
    code, text = run(capsys, "demo", "--out", str(demo))
    assert code == 0
    outputs.append(text)
    work, upload, restored = tmp_path / "work", tmp_path / "upload", tmp_path / "restored"
    code, text = run(capsys, "validate", str(SAMPLE), "--as-of", AS_OF)
    assert code == 1 and "error(s)" in text
    outputs.append(text)
    code, text = run(capsys, "export", str(SAMPLE), "--out", str(upload), "--as-of", AS_OF)
    assert code == 1  # refused: errors remain
    outputs.append(text)
    code, text = run(capsys, "review", str(SAMPLE), "--suggested", "--out", str(work))
    assert code == 0
    outputs.append(text)
    (reviewed,) = work.glob("*_reviewed_*.csv")
    code, text = run(capsys, "validate", str(reviewed), "--as-of", AS_OF)
    outputs.append(text)
    code, text = run(capsys, "export", str(reviewed), "--out", str(upload), "--as-of", AS_OF)
    assert code == 0, text
    outputs.append(text)
    code, text = run(
        capsys, "restore", str(reviewed), "--archive", str(work / "archive"), "--out", str(restored)
    )
    assert code == 0
    outputs.append(text)
    for argv in (
        ["tier", "158", "160", "480", "--month", MONTH],
        ["layout"],
        ["validate", str(CORPUS / "id_scientific.csv"), "--as-of", AS_OF],
        ["validate", str(CORPUS / "workbook_numeric_id.xlsx"), "--as-of", AS_OF],
        ["validate", str(tmp_path / "missing.csv")],
    ):
        outputs.append(run(capsys, *argv)[1])
    logs = [p.read_text(encoding="utf-8") for p in tree(tmp_path) if p.suffix == ".log"]
    for text in outputs + logs:
        assert "Traceback" not in text
        assert leaked(text) == [], text
    for folder in (demo, work, upload, restored):
        assert_owner_only(folder)
    assert list(upload.glob("PMPM_*.csv"))


def test_bad_cell_messages_name_line_and_column_not_the_value() -> None:
    table = SAMPLE_TABLE.copy()
    row = table.index[3]
    table.at[row, PATIENT] = '=HYPERLINK("http://x","0140096016")'
    table.at[table.index[4], NAME] = "@Zoë Secret-Name"
    report, _ = validate_table(table, LAYOUT, BOOK)
    cells = report.findings[report.findings["row"].notna() & (report.findings["row"] > 1)]
    assert len(cells) > 10
    sensitive = {c.name for c in LAYOUT.columns if c.id or c.role == "patient_name"}
    about_members = cells[cells["field"].isin(sensitive)]
    assert len(about_members) >= 3
    for f in about_members.itertuples():
        value = str(f.value).strip()
        assert len(value) < 4 or value not in f.message, (f.code, f.message)
    text = cli.render_findings(report, LAYOUT, limit=10_000)
    assert "Secret-Name" not in text and "0140096016" not in text
    assert f"line {row}, {PATIENT} (formula-prefix)" in text


FORMULAS = ["=1+1", "@SUM(A1)", " =cmd", "\t=1", "\r=1", "\u200b=1+1", "-A1", "+SUM(1)", "-cmd|x!A"]


@pytest.mark.parametrize("value", FORMULAS)
@pytest.mark.parametrize("column", [CAREGIVER, PAY_RATE, NAME, PATIENT])
def test_a_formula_prefix_stops_export_and_is_never_rewritten(
    tmp_path: Path, column: str, value: str
) -> None:
    table = valid_table(3)
    table.at[3, column] = value
    with pytest.raises(ExportRefused) as refused:
        workflow.export_import_file(table, tmp_path / "out", LAYOUT, BOOK, month=MONTH, at=NOW)
    codes = set(refused.value.report.errors["code"])
    assert "formula-prefix" in codes or "line-break" in codes
    assert not (tmp_path / "out").exists()
    assert table.at[3, column] == value  # the table itself is untouched


@pytest.mark.parametrize("value", ["-1000", "+1000", "-Smith", "- Smith, John"])
@pytest.mark.parametrize("column", [CAREGIVER, PAY_RATE, NAME])
def test_a_sign_before_a_plain_number_or_name_is_no_formula(
    tmp_path: Path, column: str, value: str
) -> None:
    # issue 14: never block a plain name or number (it computes and calls nothing)
    table = valid_table(3)
    table.at[3, column] = value
    done = workflow.export_import_file(table, tmp_path / "out", LAYOUT, BOOK, month=MONTH, at=NOW)
    assert value.strip() in exported_cells(done.files)


NOW = datetime(2025, 4, 2, 10, 0, 0)


def exported_cells(paths: list[Path]) -> list[str]:
    cells: list[str] = []
    for path in paths:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
        cells.extend(c for r in rows[1:] for c in r)
    return cells


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.text(
        alphabet=st.sampled_from(list("=+-@ \t'\"0123456789aZ.,é|(\u200b")), min_size=1, max_size=8
    ),
    column=st.sampled_from([CAREGIVER, PAY_RATE, NAME, PATIENT]),
)
def test_no_exported_cell_is_a_formula(value: str, column: str) -> None:
    """Only a sign before a plain number or name (-1000, -Smith) may lead an exported cell."""
    import tempfile

    table = valid_table(2)
    table.at[2, column] = value
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = workflow.export_import_file(table, Path(tmp), LAYOUT, BOOK, month=MONTH, at=NOW)
        except ExportRefused:
            return  # stopped with a finding: nothing written
        cells = exported_cells(done.files)
    assert not formula_cells(pd.Series(cells, dtype=object)).any()
    assert value.strip() in cells  # exported as it was (only surrounding spaces trimmed)


def exportable_corpus_files() -> list[Path]:
    """Corpus files expected to carry warnings only (the others are refused on errors)."""
    import tomllib

    manifest = tomllib.loads((CORPUS.parent / "expected.toml").read_text(encoding="utf-8"))
    warnings_only = {"encoding", "delimiter", "header-variant", "column-order", "extra-column"}
    warnings_only |= {"ragged-row", "not-csv"}  # trailing delimiters; a workbook read
    return [
        CORPUS / name
        for name, case in sorted(manifest["files"].items())
        if case.get("exact") and set(case.get("codes", ["?"])) <= warnings_only
    ]


def test_every_exportable_corpus_file_exports_no_formula(tmp_path: Path) -> None:
    exported = 0
    for path in exportable_corpus_files():
        try:
            report = files.read_tier_report(path, LAYOUT)
        except Exception:  # noqa: BLE001 - refused inputs are covered by test_corpus.py
            continue
        if not report.readable:
            continue
        try:
            done = workflow.export_import_file(
                report.table,
                tmp_path / path.name,
                LAYOUT,
                BOOK,
                as_of=datetime(2026, 11, 5).date(),
                at=NOW,
                read_findings=report.findings,
            )
        except ExportRefused:
            continue
        exported += 1
        assert not formula_cells(pd.Series(exported_cells(done.files), dtype=object)).any()
    assert exported >= 15


def test_a_folder_made_for_output_is_private_even_if_umask_is_open(
    tmp_path: Path, permissive_umask: None
) -> None:
    out = files.ensure_private_dir(tmp_path / "new")
    path = files.write_new_file(out, "x.csv", b"a\r\n")
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = files.write_archive(out, pd.DataFrame({"line": [2]}), "review", NOW)
    assert kept is not None and stat.S_IMODE(kept.stat().st_mode) == 0o600
