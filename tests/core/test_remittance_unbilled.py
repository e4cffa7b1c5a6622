"""835 remittances in the month's other lists: `unbilled --remittance` (reason
denied-or-underpaid, inside the window recoverable, past it lost) and `kpi --remittance`
(paid vs billed per month and per payer)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from cli_helpers import no_env_ledger_fixture, run  # noqa: F401 (fixture)
from x12_835 import claim, interchange, transaction

OCT = "2026-10"
PLAN = "Linked - Metro MLTC CDPAP"  # the default payer's rates: Tier 1 $146.45
PAID, SHORT, DENIED, LATE = "0000000301", "0000000302", "0000000303", "0000000304"


def write_visits(path: Path, pids: tuple[str, ...]) -> Path:
    """Ten billed 4-hour October visits of each member (40 h: Tier 1)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Agency ID", "Office ID", "Patient Number", "Patient Name", "Contract",
                    "Visit Date", "Hours", "Status"])  # fmt: skip
        for pid in pids:
            w.writerows(
                ["48213", "702", pid, f"Member {pid[-3:]}", PLAN, f"{OCT}-{d:02d}", "4", "Billed"]
                for d in range(1, 11)
            )
    return path


def as_json(capsys, *argv: object) -> tuple[int, dict]:
    code, out, err = run(capsys, *argv, "--format", "json")
    assert out.strip(), err
    return code, json.loads(out)


@pytest.fixture(name="month")
def month_fixture(tmp_path: Path, capsys) -> dict:
    """October visits of four Tier 1 members (default payer), exported to a ledger, and an
    835: one paid, one underpaid by $46.45, one denied; the fourth has no claim."""
    visits = write_visits(tmp_path / "visits.csv", (PAID, SHORT, DENIED, LATE))
    code, built = as_json(capsys, "visits", visits, "--month", OCT, "--out", tmp_path / "r")
    assert code == 0, built
    db = tmp_path / "ledger.sqlite3"
    argv = ["export", built["file"], "--out", tmp_path / "x", "--ledger", db]
    code, done = as_json(capsys, *argv, "--as-of", "2026-11-03")
    assert code == 0, done
    remit = tmp_path / "oct.835"
    remit.write_text(
        interchange(
            [
                transaction(
                    "METRO MLTC",
                    [
                        claim(PAID, "1", 146.45, 146.45),
                        claim(SHORT, "1", 146.45, 100.00, cas=[("CO", "45", 46.45)]),
                        claim(DENIED, "4", 146.45, 0.0, cas=[("CO", "16", 146.45)]),
                    ],
                )
            ]
        )
    )
    return {"visits": visits, "db": db, "remit": remit}


def test_denied_and_underpaid_flow_into_unbilled_inside_their_window(month, capsys):
    argv = ["unbilled", month["visits"], "--ledger", month["db"], "--as-of", "2026-12-15"]
    code, before = as_json(capsys, *argv)
    assert code == 0 and before["recoverable"] == []  # all four were exported
    code, after = as_json(capsys, *argv, "--remittance", month["remit"])
    assert code == 1
    got = {r["patient_number"]: (r["reason"], r["rate"]) for r in after["recoverable"]}
    assert got == {
        SHORT: ("denied-or-underpaid", 46.45),
        DENIED: ("denied-or-underpaid", 146.45),
    }
    assert after["totals"]["recoverable_dollars"] == 192.90
    assert after["totals"]["by_reason"] == {"denied-or-underpaid": 2}
    row = next(r for r in after["recoverable"] if r["patient_number"] == DENIED)
    assert (row["submit_from"], row["submit_until"], row["tier"]) == ("2026-11-01", "2027-01-29", 1)
    assert row["billed_hours"] == 40 and row["patient_name"]
    text = run(capsys, *argv, "--remittance", month["remit"])[1]
    assert "denied-or-underpaid" in text and "$192.90" in text and DENIED not in text
    # past the window they are lost, listed apart
    code, late = as_json(capsys, *argv[:-1], "2027-02-01", "--remittance", month["remit"])
    assert late["recoverable"] == [] and len(late["lost"]) == 2


def test_kpi_gains_paid_vs_billed_per_month_and_payer(month, capsys):
    argv = ["kpi", "--ledger", month["db"], "--remittance", month["remit"]]
    code, out = as_json(capsys, *argv, "--as-of", "2026-11-10")
    assert code == 0
    (by_month,) = out["paid_vs_billed_by_month"]
    assert by_month == {
        "month": OCT,
        "billed_member_months": 4,
        "billed": 585.80,
        "remitted_member_months": 3,
        "paid": 246.45,
        "recoverable": 192.90,
        "paid_share": round(246.45 / 585.80, 4),
    }
    (by_payer,) = out["paid_vs_billed_by_payer"]
    assert by_payer["payer"] == "*" and by_payer["paid"] == 246.45
    text = run(capsys, *argv, "--as-of", "2026-11-10")[1]
    assert "Paid vs billed PMPM" in text and "585.80" in text and "246.45" in text
