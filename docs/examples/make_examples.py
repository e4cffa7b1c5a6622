"""Write the example inputs the documentation's commands read (invented members).

    python docs/examples/make_examples.py

Files at the top of docs/examples/ serve every document; docs/examples/<document>/ holds
one document's own. `tests/support/doc_replay.py` copies them into a fresh folder and replays
the document there. The files are made by the project's own sample generator with fixed
seeds, so running this again writes the same bytes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository: benchmarks.sample

from benchmarks.sample import extract_csv, generate_extract  # noqa: E402
from xl_pmpm.io import files  # noqa: E402

CORPUS = HERE.parent.parent / "tests" / "corpus" / "files"
CRLF = "\r\n"


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def visits_csv(rows: list[tuple[str, str, str, str, str, float, str]]) -> str:
    header = "Agency ID,Office ID,Patient Number,Patient Name,Contract,Visit Date,Hours,Status"
    body = [
        ",".join(["48213", "702", pid, name, contract, day, f"{h:.2f}", status])
        for pid, name, contract, day, _, h, status in rows
    ]
    return CRLF.join([header, *body]) + CRLF


def month_of_visits(pid: str, name: str, contract: str, days: int, hours: float) -> list:
    return [
        (pid, name, contract, f"2026-09-{d:02d}", "", hours, "Billed") for d in range(1, days + 1)
    ]


def main() -> None:
    layout, book = files.load_layout(), files.load_rate_book()

    # October 2026: twelve members, clean; the month every document starts from.
    october = generate_extract(12, "2026-10", layout, book, mangle=False, below_minimum=False)
    write(HERE / "october.csv", extract_csv(october))
    november = generate_extract(
        12, "2026-11", layout, book, seed=2444, mangle=False, below_minimum=False
    )
    write(HERE / "november.csv", extract_csv(november))

    # The month's cycle: the bundled sample extract (the month with the agency's ledger and
    # its carry-over), a correction of October's first row, the import's failed rows.
    cycle = HERE / "month_cycle"
    write(cycle / "sample_tier_report.csv", files.bundled("sample_tier_report.csv").read_bytes())
    write(cycle / "fix.csv", extract_csv(october.iloc[:1]))
    failed = october.iloc[[3, 7]].copy()
    failed["Failed Reason"] = ["Caregiver is not active for the visit date", "Invalid Service Code"]
    text = failed.to_csv(index=False, lineterminator=CRLF)
    write(cycle / "failed_rows.csv", f"10 of 12 rows imported successfully{CRLF}{text}")

    # September 2026's visits: four members on 5 October, a fifth's timesheets late.
    elder, linked, upr = (
        "Elderplan CDPAP Internal",
        "Linked - Metro MLTC CDPAP",
        "UPR - Hudson Valley MLTC",
    )
    early = [
        *month_of_visits("0000100101", "Ann Example", elder, 20, 8.0),
        *month_of_visits("0000100102", "Bo Example", linked, 25, 7.5),
        *month_of_visits("0000100103", "Cy Example", upr, 30, 6.0),
        *month_of_visits("0000100105", "Eve Example", upr, 10, 4.0),
    ]
    late = [*early, *month_of_visits("0000100104", "Dee Example", upr, 12, 4.0)]
    write(cycle / "visits_2026-09_oct05.csv", visits_csv(early))
    write(cycle / "visits_2026-09_dec20.csv", visits_csv(late))

    # Phases 1 and 2 of seed 001 as HHAeXchange holds them for the linked contract: the
    # service codes, and the billing rates (Tier 3's rate typed wrong, a gap in Tier 2's).
    codes = [
        "Contract,Discipline,Service Code,Description,Export Code,Revenue Code,HCPCS Code",
        *(f"{linked},PA,{c},PMPM Tier {t},{c},,{c}" for t, c in ((1, 2443), (2, 2444), (3, 2445))),
    ]
    write(cycle / "service_codes.csv", CRLF.join(codes) + CRLF)
    rates = [
        "Contract,Discipline,Service Code,Rate,Billing Units,Active,From Date,To Date",
        f"{linked},PA,2443,146.45,1,Yes,08/01/2024,",
        f"{linked},PA,2444,387.84,1,Yes,08/01/2024,06/30/2026",
        f"{linked},PA,2444,387.84,1,Yes,08/01/2026,",
        f"{linked},PA,2445,1036.00,1,Yes,08/01/2024,",
    ]
    write(cycle / "billing_rates.csv", CRLF.join(rates) + CRLF)

    # September's remittance (835): Elderplan paid Ann; the Metro plan paid Bo at Tier 1's
    # code; the Hudson Valley plan denied Cy, paid Eve, then reversed Eve's payment and
    # paid it again $6.45 short; a direct care claim and a provider adjustment beside.
    tests = HERE.parent.parent / "tests"
    sys.path[:0] = [str(tests / "support")]  # x12_835.py, the tests' 835 builder
    from x12_835 import claim, interchange, transaction

    sept = {"month": "2026-09"}
    remit = interchange(
        [
            transaction("ELDERPLAN", [claim("0000100101", "1", 387.84, 387.84, code="2444",
                                            **sept)], trace="EP0920", control="0001"),
            transaction("METRO MLTC", [claim("0000100102", "1", 387.84, 146.45, code="2443",
                                             billed_code="2444", cas=[("CO", "45", 241.39)],
                                             **sept)], trace="MM0920", control="0002"),
            transaction(
                "HUDSON VALLEY MLTC",
                [
                    claim("0000100103", "4", 387.84, 0.0, code="2444",
                          cas=[("CO", "16", 387.84)], **sept),
                    claim("0000100105", "1", 146.45, 146.45, **sept),
                    claim("0000100105", "1", 210.00, 210.00, code="T1019", **sept),
                ],
                trace="HV1120", control="0003", paid_date="20261120",
            ),
            transaction(
                "HUDSON VALLEY MLTC",
                [
                    claim("0000100105", "22", -146.45, -146.45, cas=[("CR", "129", -146.45)],
                          **sept),
                    claim("0000100105", "1", 146.45, 140.00, cas=[("CO", "45", 6.45)], **sept),
                ],
                trace="HV1204", control="0004", paid_date="20261204",
                plb=[("L6", "INTEREST", -1.20)],
            ),
        ]
    )  # fmt: skip
    write(cycle / "remittance_2026-09.835", remit)

    # The other programs' rules: the corpus files named there, and two clean months.
    rules = HERE / "rules"
    for name in (
        "header_total_billed.csv",
        "import_fields_only.csv",
        "tier_raised.csv",
        "discipline_code_swapped.csv",
        "payer_codes_unset.csv",
    ):
        rules.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS / name, rules / name)
    for month, seed in (("2026-10", 2443), ("2026-11", 2444)):
        frame = generate_extract(
            200, month, layout, book, seed=seed, mangle=False, below_minimum=False
        )
        write(rules / f"report_{month}.csv", extract_csv(frame))
    linked_rows = october[october["Primary Contract"] == linked]
    deferred = linked_rows.iloc[:3].copy()
    deferred[["Visit Start Time", "Visit End Time"]] = ""
    write(rules / "deferred.csv", extract_csv(deferred))
    write(rules / "confirmed.csv", extract_csv(linked_rows.iloc[:2]))

    # One member-month over two contracts, and contracts HHAeXchange bills itself
    # (members of their own, so the ledger of the examples before does not know them).
    def october_visits(pid: str, name: str, contract: str, hours: float) -> tuple:
        return (pid, name, contract, "2026-10-03", "", hours, "Billed")

    upr_contract, internal = "UPR - Hudson Valley MLTC", "Elderplan CDPAP Internal"
    write(
        rules / "visits_split.csv",
        visits_csv(
            [
                october_visits("0000200101", "Ann Split", linked, 100.0),
                october_visits("0000200101", "Ann Split", upr_contract, 80.0),
                october_visits("0000200102", "Bo Single", linked, 120.0),
            ]
        ),
    )
    split = october.iloc[[1, 2, 1]].copy()  # clean rows; line 4 is line 2's member again
    split["Patient Number"] = ["0000200101", "0000200102", "0000200101"]
    split["Patient Name"] = ["Ann Split", "Bo Single", "Ann Split"]
    split["Primary Contract"] = [linked, linked, upr_contract]
    split["Billed Hours"] = ["100.00", "120.00", "80.00"]
    split["Unbilled Hours"] = "0.00"
    split["Tier"] = "1"
    split["Primary Service code"] = "2443"
    write(rules / "split_report.csv", extract_csv(split))
    auto = split.iloc[[0, 1, 1]].copy()
    auto["Patient Number"] = ["0000200201", "0000200202", "0000200203"]
    auto["Patient Name"] = ["Cy Auto", "Dee Auto", "Eve Auto"]
    auto["Primary Contract"] = ["Linked - Elderplan CDPAP", internal, "Linked - Elderplan CDPAP"]
    write(rules / "auto_report.csv", extract_csv(auto))
    payers = pd.read_csv(files.bundled("payers.csv"), dtype=str, keep_default_na=False)
    payers.loc[payers["payer"] == "Elderplan", "auto_billed"] = internal
    write(rules / "payers.csv", payers.to_csv(index=False, lineterminator=CRLF))
    write(
        rules / "visits_auto.csv",
        visits_csv(
            [
                october_visits("0000200301", "Fay Auto", internal, 100.0),
                october_visits("0000200302", "Gus Linked", "Linked - Elderplan CDPAP", 30.0),
            ]
        ),
    )
    setup = [
        "Contract,Discipline,Service Code,Description,Export Code,Revenue Code,HCPCS Code",
        f"{linked},PA,2443,PMPM Tier 1,2443,,2443",
        f"{linked},Other (Skilled),2443 Skilled,PMPM Tier 1,2443 Skilled:::::PMPM Tier 1,,2443",
        f"{linked},PA,2444,PMPM Tier 2,2444:::::PMPM Tier 2,,2444.0",
        f"{linked},PA,2445,PMPM Tier 3,2445,,2445",
    ]
    write(rules / "service_codes.csv", CRLF.join(setup) + CRLF)
    write(
        rules / "fi.csv",
        """member,provider,start,end
M-0001,Easter Seals Financial Management,2024-01-01,2024-03-31
M-0001,Easter Seals Financial Management,2024-04-01,2024-12-31
M-0002,Easter Seals Financial Management,2024-01-01,2024-06-30
M-0003,Easter Seals Financial Management,2024-02-15,2024-06-30
M-0004,Another FI,2024-01-01,2024-06-30
""",
    )
    write(
        rules / "pmpm.csv",
        """member,start,end,monthly_rate
M-0001,2024-01-01,2024-12-31,146.45
M-0002,2024-01-01,2024-03-31,146.45
M-0002,2024-03-31,2024-06-30,146.45
M-0003,2024-02-01,2024-05-31,146.45
M-0004,2024-01-01,2024-06-30,146.45
""",
    )
    write(
        rules / "units.csv",
        """client,date,code,units
C-1001,2016-07-31,602,1
C-1002,2016-07-31,IND THPY,0.5
C-1002,2016-07-31,GROUP,0.5
C-1003,2016-07-30,602,1
C-1001,2016-08-01,GROUP,1
""",
    )
    write(
        rules / "auth.csv",
        """client,code,start,end,units_authorized,units_used
C-1001,0905,2016-07-01,2016-07-31,30,10
C-1001,0906,2016-08-01,,60,
C-1002,0905,2016-07-01,2016-12-31,20,20
C-1003,0905,2016-07-01,2016-12-31,30,0
C-1003,0906,2016-07-01,2016-12-31,30,0
""",
    )


if __name__ == "__main__":
    main()
