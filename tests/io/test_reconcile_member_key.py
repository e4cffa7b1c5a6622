"""Issue 22 item 6: reconcile matches a failed row's Patient Number by `member_key`, as the
ledger does: an invisible character or look-alike digits do not hide a rejection."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
from visits_files import build_report, run, run_json, visits_rows, write_visits

from xl_pmpm.io import ledger

SEPT = "2026-09"
A, B = "0000000301", "0000000302"
PLAN = "Linked - Metro MLTC CDPAP"


def failed_rows(path: Path, exported: Path, member: str, disguise) -> Path:
    """The import's answer: the row of `member` echoed with its ID as `disguise` writes it."""
    sent = pd.read_csv(exported, dtype=str, keep_default_na=False)
    row = sent[sent["Patient Number"] == member].iloc[0].to_dict()
    row["Patient Number"] = disguise(member)
    with path.open("w", newline="", encoding="utf-8") as fh:
        fh.write("1 of 2 rows imported successfully\r\n")
        w = csv.DictWriter(fh, [*sent.columns, "Failed Reason"])
        w.writeheader()
        w.writerow({**row, "Failed Reason": "Invalid Service Code"})
    return path


def test_a_failed_row_with_an_invisible_character_is_marked_and_listed_unbilled(
    tmp_path: Path, capsys
) -> None:
    visits = write_visits(
        tmp_path / "visits.csv", visits_rows(A, SEPT, 20, 8.5) + visits_rows(B, SEPT, 10, 4)
    )
    report = build_report(capsys, visits, SEPT, tmp_path / "reports")
    code, done = run_json(
        capsys, "export", report, "--out", tmp_path / "up", "--as-of", "2026-10-05"
    )
    assert code == 0 and done["rows"] == 2, done
    for disguise, name in (
        (lambda pid: f"\u200b{pid}", "zero-width"),
        (lambda pid: pid.translate(str.maketrans("0123456789", "０１２３４５６７８９")), "wide"),
    ):
        results = failed_rows(tmp_path / f"failed_{name}.csv", Path(done["files"][0]), A, disguise)
        code, text = run(capsys, "reconcile", results)
        assert code == 1 and "1 marked rejected" in text and "0 not found" in text, text
        assert A not in text
    entries = ledger.history(ledger.default_ledger())
    status = dict(zip(entries["patient_number"], entries["status"], strict=True))
    assert status == {A: "rejected", B: "exported"}
    code, payload = run_json(capsys, "unbilled", visits, "--as-of", "2026-10-20")
    assert code == 1
    assert [(r["patient_number"], r["reason"]) for r in payload["recoverable"]] == [(A, "rejected")]
