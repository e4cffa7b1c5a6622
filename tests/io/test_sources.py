"""Issue 13, true to the sources: the extract's own headers, payers by name, the window per payer.

Through the CLI (`xl_pmpm.cli.app.main`) on the corpus's clean extract, as a biller runs it.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from core_helpers import BOOK, CONTRACT, HEADER, MONTH, check_rows, valid_rows

from xl_pmpm.cli import app as cli
from xl_pmpm.core.file_checks import check_submission_window
from xl_pmpm.core.findings import ERROR, WARNING
from xl_pmpm.io import files

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "files"
AS_OF = "2026-11-05"


def run(capsys, *argv: str) -> tuple[int, dict]:
    code = cli.main([*argv, "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def header_line(data: bytes) -> bytes:
    return data.split(b"\r\n", 1)[0]


def exported_lines(folder: Path) -> tuple[set[bytes], list[bytes]]:
    """The header lines of the files written, and all their data lines."""
    heads, rows = set(), []
    for path in sorted(folder.glob("*.csv")):
        data = path.read_bytes()
        heads.add(header_line(data))
        rows += data.split(b"\r\n")[1:-1]
    return heads, rows


@pytest.mark.parametrize("name", ["header_total_billed.csv", "clean.csv"])
def test_a_clean_extract_exports_with_exactly_its_own_header_line(capsys, tmp_path, name):
    source = CORPUS / name
    code, checked = run(capsys, "validate", str(source), "--as-of", AS_OF)
    assert code == 0 and checked["errors"] == [] and checked["warnings"] == []
    out = tmp_path / "upload"
    code, done = run(capsys, "export", str(source), "--out", str(out), "--as-of", AS_OF)
    assert code == 0 and done["rows"] == 12
    heads, rows = exported_lines(out)
    original = source.read_bytes().split(b"\r\n")
    assert heads == {original[0]}  # "Total Billed" stays "Total Billed"
    assert len(rows) == len([line for line in original[1:] if line])  # (dates normalised)


def test_a_file_of_only_the_import_fields_validates_and_exports(capsys, tmp_path):
    source = CORPUS / "import_fields_only.csv"
    code, checked = run(capsys, "validate", str(source), "--as-of", AS_OF)
    assert code == 0 and checked["errors"] == []
    assert [w["code"] for w in checked["warnings"]] == ["checks-skipped"]
    message = checked["warnings"][0]["message"]
    assert "Billed Hours (or Total Billed)" in message and "tier-at-risk" in message
    out = tmp_path / "upload"
    code, done = run(capsys, "export", str(source), "--out", str(out), "--as-of", AS_OF)
    assert code == 0 and done["rows"] == 12
    heads, rows = exported_lines(out)
    assert heads == {header_line(source.read_bytes())}
    assert {len(r.split(b",")) for r in rows} == {12}


def test_an_import_field_spelled_loosely_is_exported_as_the_specification_has_it(capsys, tmp_path):
    data = (CORPUS / "header_total_billed.csv").read_bytes()
    head, body = data.split(b"\r\n", 1)
    loose = head.replace(b"Patient Number", b"patient  number")
    source = tmp_path / "loose.csv"
    source.write_bytes(loose + b"\r\n" + body)
    out = tmp_path / "upload"
    code, done = run(capsys, "export", str(source), "--out", str(out), "--as-of", AS_OF)
    assert code == 0 and [w["code"] for w in done["warnings"]] == ["header-variant"]
    heads, _ = exported_lines(out)
    assert heads == {head}  # Patient Number exactly; Total Billed as the file had it


def test_a_reviewed_file_keeps_the_extract_headers(capsys, tmp_path):
    source = CORPUS / "header_total_billed.csv"
    out = tmp_path / "reviewed"
    code = cli.main(["review", str(source), "--delete", "3", "--out", str(out)])
    capsys.readouterr()
    assert code == 0
    (written,) = out.glob("*_reviewed_*.csv")
    assert header_line(written.read_bytes()) == header_line(source.read_bytes())


# --- payers by name -----------------------------------------------------------------------


@pytest.mark.parametrize("payer", ["elderplan", "Elder Plan", "ELDER-PLAN"])
def test_claim_dates_find_the_payer_by_its_name_loosely(capsys, payer):
    code, out = run(capsys, "claim-dates", "2024-11", "--payer", payer)
    assert code == 0 and out["payer"] == "Elderplan" and out["rule"] == "first_day"
    assert out["warnings"] == []


def test_an_unknown_payer_name_says_the_default_is_used(capsys):
    code, out = run(capsys, "claim-dates", "2024-11", "--payer", "Nowhere Health")
    assert code == 0 and out["through"] == "2024-11-30"
    assert [w["code"] for w in out["warnings"]] == ["payer-unknown"]
    assert "Nowhere Health" in out["warnings"][0]["message"]
    code = cli.main(["tier", "100", "--payer", "Nowhere Health"])
    assert code == 0 and "payer-unknown" in capsys.readouterr().err


def test_a_contract_naming_elderplan_gets_elderplan_and_its_codes_warning(tmp_path):
    checked = check_rows(tmp_path, valid_rows(2, **{CONTRACT: "Linked - ElderPlan, CDPAP"}))
    assert checked.flags["payer"].tolist() == ["Elderplan", "Elderplan"]
    assert checked.places("payer-codes-unset") == [(WARNING, None, CONTRACT)]


def test_a_payer_with_rows_of_its_own_is_not_told_to_set_them(tmp_path):
    extra = "Elderplan,1,1,160,2443,EP-T1,EP-T1 Skilled,0189,146.45,2024-08-01,,test\n"
    rates = files.bundled("rates.csv").read_text(encoding="utf-8") + extra
    payers = files.bundled("payers.csv").read_text(encoding="utf-8")
    book = files.parse_rate_book(rates, payers)
    rows = valid_rows(2, **{CONTRACT: "Elderplan CDPAP Internal", HEADER[11]: "EP-T1"})
    checked = check_rows(tmp_path, rows, book=book)
    assert checked.findings.empty, checked.findings.to_string()


# --- the submission window per payer ------------------------------------------------------

STRICT_PAYERS = (
    "payer,contracts,hours_basis,claim_dates,submission_days,late\n"
    "*,,utilized,month,90,warning\n"
    "Strict Plan,Strict*,utilized,month,60,error\n"
)


def test_past_the_deadline_is_a_warning_unless_the_payer_says_error(tmp_path):
    rates = files.bundled("rates.csv").read_text(encoding="utf-8")
    book = files.parse_rate_book(rates, STRICT_PAYERS)
    month = pd.Period(MONTH, freq="M")
    as_of = date(2025, 6, 5)  # day 66 after March: past 60, not 90
    assert check_submission_window(month, as_of, book, ["*"]) == []
    (late,) = check_submission_window(month, as_of, book, ["Strict Plan"])
    assert (late["code"].iloc[0], late["severity"].iloc[0]) == ("past-deadline", ERROR)
    assert "2025-05-30" in late["message"].iloc[0]
    rows = valid_rows(2, **{CONTRACT: "Strict Plan CDPAP"})
    checked = check_rows(tmp_path, rows, book=book, as_of=as_of)
    assert checked.places("past-deadline") == [(ERROR, None, None)]
    assert not checked.validation.valid
    # Past 90 days for the default payer: a warning; the file stays valid.
    later = date(2025, 7, 1)
    checked = check_rows(tmp_path, valid_rows(2), as_of=later)
    assert checked.places("past-deadline") == [(WARNING, None, None)]
    assert checked.validation.valid


def test_too_early_stays_an_error_for_every_payer(tmp_path):
    early = date(2025, 3, 31)
    checked = check_rows(tmp_path, valid_rows(2), as_of=early, book=BOOK)
    assert checked.places("too-early") == [(ERROR, None, None)]


def test_a_raised_tier_is_recorded_in_the_ledger_at_the_tier_billed(capsys, tmp_path):
    source = CORPUS / "tier_raised.csv"  # line 7: 143.90 h billed, 20 unbilled, Tier 2
    out = tmp_path / "upload"
    code, done = run(capsys, "export", str(source), "--out", str(out), "--as-of", AS_OF)
    assert code == 0 and [w["code"] for w in done["warnings"]] == ["tier-raised"]
    entries = ledger_history(out)
    raised = entries[entries["line"] == 7].iloc[0]
    assert (raised["tier"], raised["rate"]) == (2, 387.84)


def ledger_history(out: Path) -> pd.DataFrame:
    from xl_pmpm.io import ledger

    return ledger.history(ledger.default_ledger())
