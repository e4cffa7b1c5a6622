"""Import results (failed rows) back into the ledger, and resubmission of corrected rows.

The failed-rows file format is INVENTED (HHAeXchange does not publish it): the
uploaded columns echoed, plus "Failed Reason", after a "N of M rows imported" line.
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
from core_helpers import (
    AS_OF,
    BOOK,
    DISCIPLINE,
    EXPORT_HEADER,
    LAYOUT,
    MONTH,
    PATIENT,
    SERVICE,
    csv_text,
    valid_table,
)

from xl_pmpm.cli.commands_month import add_commands
from xl_pmpm.cli.parser import Parser
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.validation import validate_report
from xl_pmpm.io import files, ledger, workflow
from xl_pmpm.io.reconcile import (
    ResultsMapping,
    outstanding_rejections,
    read_results,
    read_results_bytes,
    reconcile_results,
)

AT = datetime(2025, 4, 15, 9, 0)
LATER = datetime(2025, 4, 18, 9, 0)
FAILED_LINES = {3: "Caregiver is not active for the visit date", 5: "Invalid Service Code"}


@pytest.fixture
def exported(tmp_path):
    table = valid_table(5)
    done = workflow.export_import_file(
        table, tmp_path / "out", LAYOUT, BOOK,
        month=MONTH, as_of=AS_OF, at=AT, ledger=tmp_path / "ledger.db",
    )  # fmt: skip
    return table, done


def results_file(tmp_path, exported_file, lines=FAILED_LINES, extra=()) -> str:
    sent = files.read_tier_report(exported_file, LAYOUT).table
    rows = []
    for line, reason in lines.items():
        row = sent.iloc[line - 2][EXPORT_HEADER].to_dict()
        rows.append({**row, "Failed Reason": reason})
    rows.extend(extra)
    text = "2 of 4 rows imported successfully\r\n" + csv_text(
        [*EXPORT_HEADER, "Failed Reason"], rows
    )
    path = tmp_path / "failed_rows.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_results_yield_exactly_the_failed_rows(tmp_path, exported):
    table, done = exported
    path = results_file(tmp_path, done.files[0])
    failed = read_results(path)
    assert failed.attrs["summary"] == (2, 4)
    assert list(failed.index) == [3, 4]  # summary line 1, header line 2
    assert list(failed["patient_number"]) == [table.at[3, PATIENT], table.at[5, PATIENT]]
    assert set(failed["month"]) == {MONTH}

    outcome = reconcile_results(path, tmp_path / "ledger.db", LAYOUT, BOOK, at=LATER)
    assert outcome.marked == 2 and outcome.unmatched.empty
    entries = ledger.history(tmp_path / "ledger.db")
    rejected = entries[entries["status"] == "rejected"]
    assert sorted(rejected["line"]) == [3, 5]
    assert dict(zip(rejected["line"], rejected["reason"], strict=True)) == FAILED_LINES
    assert len(outcome.outstanding) == 2
    # Running it again changes nothing.
    again = reconcile_results(path, tmp_path / "ledger.db", LAYOUT, BOOK, at=LATER)
    assert again.marked == 2 and len(ledger.history(tmp_path / "ledger.db")) == 5


def test_resubmission_holds_only_corrected_rows_and_untouched_stay_flagged(tmp_path, exported):
    table, done = exported
    path = results_file(tmp_path, done.files[0])
    db = tmp_path / "ledger.db"
    reconcile_results(path, db, LAYOUT, BOOK, at=LATER)

    corrected = table.copy()  # the biller fixes line 5 only; line 3 is left as it was
    corrected.loc[5, [DISCIPLINE, SERVICE]] = ["Other (Skilled)", "2443 Skilled"]
    outcome = reconcile_results(
        path, db, LAYOUT, BOOK, at=datetime(2025, 4, 19), corrected=corrected,
        out_dir=tmp_path / "resubmit", as_of=AS_OF,
    )  # fmt: skip
    sel = outcome.selection
    assert list(sel.rows.index) == [5]
    assert list(sel.unchanged) == [3]
    assert sorted(sel.not_rejected) == [2, 4, 6]
    assert set(sel.findings["code"]) == {"still-rejected"}
    # The resubmission file holds exactly the corrected row, and validates like any export.
    assert outcome.exported is not None and len(outcome.exported.files) == 1
    written = files.read_tier_report(outcome.exported.files[0], LAYOUT)
    assert list(written.table[PATIENT]) == [table.at[5, PATIENT]]
    assert written.table.iloc[0][SERVICE] == "2443 Skilled"
    check, _ = validate_report(written, LAYOUT, BOOK, month=MONTH, as_of=AS_OF)
    assert check.valid
    # The untouched failed row stays flagged: still rejected, still outstanding.
    waiting = outstanding_rejections(ledger.history(db))
    assert list(waiting["line"]) == [3]
    assert list(outcome.outstanding["patient_number"]) == [table.at[3, PATIENT]]
    entries = ledger.history(db)
    assert list(entries["status"]) == ["exported", "rejected", "exported", "rejected"] + [
        "exported",
        "exported",
    ]
    # Reading the same results again after the resubmission changes nothing.
    again = reconcile_results(path, db, LAYOUT, BOOK, at=datetime(2025, 4, 20))
    assert again.marked == 2 and list(ledger.history(db)["status"]) == list(entries["status"])
    assert list(again.outstanding["line"]) == [3]


def test_unknown_failed_row_is_reported_unmatched(tmp_path, exported):
    _, done = exported
    stranger = {h: "" for h in EXPORT_HEADER}
    stranger.update(
        {
            PATIENT: "0999999999",
            "Primary Contract": "Linked - Metro MLTC CDPAP",
            "Schedule Start Time": "2025-03-01 03:00",
            "Failed Reason": "Patient not found",
        }
    )
    path = results_file(tmp_path, done.files[0], {3: "x"}, extra=[stranger])
    outcome = reconcile_results(path, tmp_path / "ledger.db", LAYOUT, BOOK, at=LATER)
    assert outcome.marked == 1
    assert list(outcome.unmatched["patient_number"]) == ["0999999999"]


def test_results_mapping_and_bad_input():
    data = b"Admission ID,Contract,Visit Date,Reason\r\n0001,C,03/02/2025,Bad\r\n"
    failed = read_results_bytes(data, ResultsMapping(), source="r.csv")
    assert failed.iloc[0].to_dict() == {
        "patient_number": "0001",
        "contract": "C",
        "month": "2025-03",
        "reason": "Bad",
    }
    with pytest.raises(PmpmInputError) as err:
        read_results_bytes(data.replace(b"03/02/2025", b"soon"), ResultsMapping(), source="r.csv")
    assert (err.value.row, err.value.column) == (2, "Visit Date")
    with pytest.raises(PmpmInputError, match="no reason column"):
        read_results_bytes(b"Patient Number,Primary Contract\r\n1,C\r\n", ResultsMapping())
    nothing = read_results_bytes(b"4 of 4 rows imported\r\n", ResultsMapping())
    assert nothing.empty and nothing.attrs["summary"] == (4, 4)


def _run(argv: list[str]) -> int:
    parser = Parser()  # the commands are declared for xl-pmpm's parser (example=, group=)
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_reconcile_command(tmp_path, exported, capsys):
    table, done = exported
    path = results_file(tmp_path, done.files[0])
    db = str(tmp_path / "ledger.db")
    assert _run(["reconcile", path, "--ledger", db]) == 1  # two rejections outstanding
    text = capsys.readouterr().out
    assert "2 marked rejected" in text and table.at[3, PATIENT] not in text
    fixed = table.copy()
    fixed.loc[[3, 5], [DISCIPLINE, SERVICE]] = ["Other (Skilled)", "2443 Skilled"]
    corrected = tmp_path / "corrected.csv"
    corrected.write_text(fixed.to_csv(index=False), encoding="utf-8")
    argv = ["reconcile", path, "--ledger", db, "--corrected", str(corrected)]
    argv += ["--out", str(tmp_path / "re"), "--as-of", "2025-04-19", "--format", "json"]
    assert _run(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["resubmission"]["rows"] == 2 and payload["outstanding"] == []
    assert _run(["reconcile", path, "--ledger", str(tmp_path / "no.db")]) == 2
    assert _run(["reconcile", path, "--ledger", db, "--corrected", str(corrected)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_outstanding_is_pure():
    entries = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "patient_number": ["1", "1", "2"],
            "contract": ["C", "C", "C"],
            "month": [MONTH] * 3,
            "status": ["rejected", "exported", "rejected"],
        }
    )
    assert list(outstanding_rejections(entries)["id"]) == [3]
