"""`xl-pmpm paid`: 835 remittances matched to the member-months a real export recorded.

Each test builds its 835 from the X12 structure (`x12_835`) for members of one exported
October extract, and runs the command in process.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from cli_helpers import no_env_ledger_fixture, run  # noqa: F401 (fixture)
from x12_835 import claim, interchange, transaction

from benchmarks.sample import extract_csv, generate_extract
from xl_pmpm.cli import app as cli
from xl_pmpm.io import files, ledger

CODE = {1: "2443", 2: "2444", 3: "2445"}
TODAY = str(date.today())  # the export is recorded today: every month is awaiting today
LATER = str(date.today() + timedelta(days=60))  # past the default 45 remittance days


@pytest.fixture(name="billed", scope="module")
def billed_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """A ledger after exporting 30 October rows; its entries, one per member."""
    folder = tmp_path_factory.mktemp("paid")
    layout, book = files.load_layout(), files.load_rate_book()
    frame = generate_extract(30, "2026-10", layout, book, mangle=False, below_minimum=False)
    report = folder / "october.csv"
    report.write_bytes(extract_csv(frame))
    db = folder / "ledger.sqlite3"
    argv = ["export", str(report), "--out", str(folder / "up"), "--as-of", "2026-11-05"]
    assert cli.main([*argv, "--ledger", str(db)]) == 0
    entries = ledger.history(str(db)).to_dict("records")
    for e in entries:
        e["rate"], e["tier"] = float(e["rate"]), int(e["tier"])
    return db, entries


def paid(capsys, db: Path, *argv: object, as_of: str = TODAY) -> tuple[int, dict]:
    code, out, err = run(
        capsys, "paid", *argv, "--ledger", db, "--as-of", as_of, "--format", "json"
    )
    assert code == 2 or not err.strip() or "reading" in err, err
    return code, json.loads(out) if out.strip() else {"error": err}


def write(tmp_path: Path, text: str, name: str = "remit.835") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="latin-1")
    return path


def by_member(payload: dict) -> dict[str, dict]:
    return {r["patient_number"]: r for r in payload["results"]}


def full(e: dict, **kw: object):
    return claim(e["patient_number"], "1", e["rate"], e["rate"], code=CODE[e["tier"]], **kw)


def test_a_single_claim_paid_at_its_tier_is_paid_and_the_rest_await(capsys, tmp_path, billed):
    db, entries = billed
    e = entries[0]
    path = write(tmp_path, interchange([transaction("Sample Health Plan", [full(e)])]))
    code, out = paid(capsys, db, path)
    assert code == 0
    (row,) = out["results"]
    assert row["patient_number"] == e["patient_number"] and row["month"] == "2026-10"
    assert (row["result"], row["paid"], row["difference"]) == ("paid", e["rate"], 0.0)
    assert out["totals"]["awaiting_member_months"] == len(entries) - 1
    assert out["totals"]["paid_dollars"] == out["totals"]["billed_dollars"] == e["rate"]
    text = run(capsys, "paid", path, "--ledger", db, "--as-of", TODAY)[1]
    assert f"${e['rate']:,.2f} paid of ${e['rate']:,.2f} billed" in text
    assert e["patient_number"] not in text  # the text names no member


def test_several_claims_per_file_each_get_their_result(capsys, tmp_path, billed):
    db, entries = billed
    tier2 = [e for e in entries if e["tier"] >= 2]
    ones = [e for e in entries if e["tier"] == 1]
    ok, short, deny, lower_code = ones[0], ones[1], ones[2], tier2[0]
    lower_rate = next(e for e in tier2[1:] if e["contract"].startswith(("Linked", "UPR")))
    claims = [
        full(ok),
        claim(short["patient_number"], "1", short["rate"], short["rate"] - 20,
              code="2443", cas=[("CO", "45", 20.0)]),
        claim(deny["patient_number"], "4", deny["rate"], 0.0, code="2443",
              cas=[("CO", "197", deny["rate"])]),
        # billed at its tier (SVC06), paid as Tier 1's code (SVC01)
        claim(lower_code["patient_number"], "1", lower_code["rate"], 100.0, code="2443",
              billed_code=CODE[lower_code["tier"]], cas=[("CO", "45", lower_code["rate"] - 100)]),
        # paid exactly Tier 1's rate, no code change
        claim(lower_rate["patient_number"], "1", lower_rate["rate"], 146.45,
              code=CODE[lower_rate["tier"]], cas=[("CO", "45", lower_rate["rate"] - 146.45)]),
    ]  # fmt: skip
    path = write(tmp_path, interchange([transaction("Sample Health Plan", claims)]))
    code, out = paid(capsys, db, path)
    assert code == 1  # something to recover
    rows = by_member(out)
    assert rows[ok["patient_number"]]["result"] == "paid"
    s = rows[short["patient_number"]]
    assert (s["result"], s["difference"], s["carc"]) == ("underpaid", 20.0, "CO-45")
    assert s["carc_meaning"].startswith("Charge exceeds the fee schedule")
    d = rows[deny["patient_number"]]
    assert (d["result"], d["carc"], d["difference"]) == ("denied", "CO-197", deny["rate"])
    assert "authorization" in d["carc_meaning"]
    c = rows[lower_code["patient_number"]]
    assert (c["result"], c["paid_tier"]) == ("paid-lower-tier", 1)
    assert c["difference"] == round(lower_code["rate"] - 100, 2)
    r = rows[lower_rate["patient_number"]]
    assert (r["result"], r["paid_tier"]) == ("paid-lower-tier", 1)  # the default Tier 1 rate
    assert out["totals"]["by_result"]["denied"] == 1
    for row in out["results"]:  # inside the submission window (October + 90 days)
        assert row["submit_until"] == "2027-01-29"


def test_a_reversal_then_its_correction_and_a_reversal_alone(capsys, tmp_path, billed):
    db, entries = billed
    fixed, gone = entries[3], entries[4]
    first = transaction("Sample Health Plan", [full(fixed), full(gone)], paid_date="20261120")
    later = transaction(
        "Sample Health Plan",
        [
            claim(fixed["patient_number"], "22", -fixed["rate"], -fixed["rate"],
                  code=CODE[fixed["tier"]], cas=[("CR", "129", -fixed["rate"])]),
            claim(fixed["patient_number"], "1", fixed["rate"], fixed["rate"] - 5,
                  code=CODE[fixed["tier"]], cas=[("CO", "45", 5.0)]),
            claim(gone["patient_number"], "22", -gone["rate"], -gone["rate"],
                  code=CODE[gone["tier"]], cas=[("CR", "129", -gone["rate"])]),
        ],
        paid_date="20261204",
        control="0002",
    )  # fmt: skip
    # the later payment first in the file: order is by payment date
    path = write(tmp_path, interchange([later, first]))
    code, out = paid(capsys, db, path)
    assert code == 1
    rows = by_member(out)
    f = rows[fixed["patient_number"]]
    assert (f["result"], f["corrected"], f["claims"]) == ("underpaid", True, 3)
    assert f["paid"] == round(fixed["rate"] - 5, 2) and f["difference"] == 5.0
    g = rows[gone["patient_number"]]
    assert (g["result"], g["paid"], g["claims"], g["corrected"]) == ("reversed", 0.0, 2, False)
    assert g["difference"] == gone["rate"]


def test_a_reversal_whose_payment_came_in_an_earlier_file(capsys, tmp_path, billed):
    db, entries = billed
    e = entries[10]
    back = claim(e["patient_number"], "22", -e["rate"], -e["rate"], code=CODE[e["tier"]])
    code, out = paid(capsys, db, write(tmp_path, interchange([transaction("P", [back])])))
    (row,) = out["results"]
    assert code == 1 and (row["result"], row["paid"]) == ("reversed", -e["rate"])
    assert row["difference"] == e["rate"]  # one rate owed, not two


def test_an_interchange_with_several_payers(capsys, tmp_path, billed):
    db, entries = billed
    a, b = entries[5], entries[6]
    path = write(
        tmp_path,
        interchange(
            [
                transaction("FIRST PLAN", [full(a)], trace="T1"),
                transaction("SECOND PLAN", [full(b)], trace="T2", control="0002",
                            plb=[("WO", "OVERPAY1", 25.0), ("L6", "INTEREST", -1.5)]),
            ]
        ),
    )  # fmt: skip
    code, out = paid(capsys, db, path)
    assert code == 0
    assert {r["result"] for r in out["results"]} == {"paid"}
    plb = out["provider_adjustments"]
    assert [(p["payer"], p["reason"], p["amount"]) for p in plb] == [
        ("SECOND PLAN", "WO", 25.0),
        ("SECOND PLAN", "L6", -1.5),
    ]
    assert out["totals"]["provider_adjustments"] == 23.5


def test_no_remittance_after_the_payers_days(capsys, tmp_path, billed):
    db, entries = billed
    path = write(tmp_path, interchange([transaction("Sample Health Plan", [full(entries[0])])]))
    code, out = paid(capsys, db, path, as_of=LATER)
    assert code == 1
    missing = [r for r in out["results"] if r["result"] == "no-remittance"]
    assert len(missing) == len(entries) - 1
    assert all(r["difference"] == r["rate"] and r["paid"] == 0 for r in missing)
    # a payer with more days: its member-months still await
    payers = files.bundled("payers.csv").read_text(encoding="utf-8")
    longer = payers.replace("\n*,", "\n*,", 1).splitlines()
    head = longer[0].split(",")
    col = head.index("remittance_days")
    star = next(i for i, line in enumerate(longer) if line.startswith("*,"))
    longer[star] = longer[star].rsplit(",", 1)[0] + ",365"
    assert longer[0].split(",")[col] == "remittance_days"
    custom = tmp_path / "payers.csv"
    custom.write_text("\n".join(longer) + "\n", encoding="utf-8")
    code, out = paid(capsys, db, path, "--payers", custom, as_of=LATER)
    defaults = [r for r in out["results"] if r["payer"] == "*" and r["result"] == "no-remittance"]
    assert defaults == [] and out["totals"]["awaiting_member_months"] > 0


def test_a_crosswalk_matches_the_payers_member_id(capsys, tmp_path, billed):
    db, entries = billed
    e = entries[7]
    c = claim("HHA-CLAIM-77", "1", e["rate"], e["rate"], code=CODE[e["tier"]], member_id="MCD9")
    path = write(tmp_path, interchange([transaction("Sample Health Plan", [c])]))
    code, out = paid(capsys, db, path)
    assert out["results"] == [] and out["unmatched"][0]["why"] == "member-unknown"
    walk = tmp_path / "crosswalk.csv"
    walk.write_text(f"Patient Number,Member ID\n{e['patient_number']},MCD9\n", encoding="utf-8")
    code, out = paid(capsys, db, path, "--crosswalk", walk)
    assert code == 0 and by_member(out)[e["patient_number"]]["result"] == "paid"
    walk.write_text(f"Patient Number,Patient Control Number\n{e['patient_number']},HHA-CLAIM-77\n")
    code, out = paid(capsys, db, path, "--crosswalk", walk)
    assert code == 0 and by_member(out)[e["patient_number"]]["result"] == "paid"


def test_a_crosswalk_that_is_ambiguous_or_lacks_columns_is_refused(capsys, tmp_path, billed):
    db, entries = billed
    path = write(tmp_path, interchange([transaction("P", [full(entries[0])])]))
    walk = tmp_path / "crosswalk.csv"
    walk.write_text("Patient Number,Member ID\n0001,MCD9\n0002,MCD9\n", encoding="utf-8")
    code, _, err = run(capsys, "paid", path, "--ledger", db, "--crosswalk", walk)
    assert code == 2 and "line 3" in err and "'Member ID'" in err and "0002" not in err
    walk.write_text("Patient Number,Name\n0001,A\n", encoding="utf-8")
    code, _, err = run(capsys, "paid", path, "--ledger", db, "--crosswalk", walk)
    assert code == 2 and "Member ID or Patient Control Number" in err


def test_direct_care_claims_are_left_aside_and_unknown_months_unmatched(capsys, tmp_path, billed):
    db, entries = billed
    e = entries[8]
    claims = [
        claim(e["patient_number"], "1", 300.0, 300.0, code="T1019"),  # direct care
        claim(e["patient_number"], "1", e["rate"], e["rate"], code=CODE[e["tier"]],
              month="2026-09"),  # not exported for September
    ]  # fmt: skip
    path = write(tmp_path, interchange([transaction("Sample Health Plan", claims)]))
    code, out = paid(capsys, db, path)
    assert code == 0
    assert out["totals"]["other_claims"] == 1 and out["totals"]["pmpm_claims"] == 1
    assert [u["why"] for u in out["unmatched"]] == ["month-not-billed"]


def test_the_separators_are_the_ones_the_isa_declares(capsys, tmp_path, billed):
    db, entries = billed
    e = entries[9]
    text = interchange(
        [transaction("Sample Health Plan", [full(e)], e="|", k=">")], e="|", k=">", t="\n",
        newline=False,
    )  # fmt: skip
    code, out = paid(capsys, db, write(tmp_path, text))
    assert code == 0 and by_member(out)[e["patient_number"]]["result"] == "paid"


@pytest.mark.parametrize(
    ("mangle", "named"),
    [
        (lambda t: t[: t.index("IEA")], "(ISA)"),  # cut short: the interchange never closes
        (lambda t: t.replace("*1*146.45*", "*1*14x.45*", 1), "(CLP)"),
        (lambda t: t.replace("SE*", "SE*9", 1), "(SE)"),
        (lambda t: t.replace("DTM*232*202610", "DTM*232*202613", 1), "(DTM)"),
        (lambda t: t.replace("CAS*CO*", "CAS*XX*", 1), "(CAS)"),
        (lambda t: t.replace("ST*835", "ST*837", 1), "(ST)"),
        (lambda t: "%PDF-1.7 " + t, "ISA"),
        (lambda t: t.rstrip("\n~"), "cut short"),
    ],
)
def test_a_malformed_835_exits_2_naming_the_segment(capsys, tmp_path, billed, mangle, named):
    db, entries = billed
    e = next(x for x in entries if x["rate"] == 146.45)
    c = claim(e["patient_number"], "1", 146.45, 146.45, cas=[("CO", "45", 0.0)])
    text = mangle(interchange([transaction("Sample Health Plan", [c])]))
    code, out, err = run(capsys, "paid", write(tmp_path, text), "--ledger", db)
    assert code == 2 and out == ""
    assert named in err and "remit.835" in err and "Traceback" not in err
    if named.startswith("("):
        assert "segment " in err and "at byte " in err
    assert e["patient_number"] not in err
