"""`xl-pmpm service-setup --billing-rates`: the contracts' billing rates (seed 001, phase 2)
checked against the rate table for every month in force."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import no_env_ledger_fixture, run  # noqa: F401 (fixture)

HEADER = "Contract,Discipline,Service Code,Rate,Billing Units,Active,From Date,To Date\n"
PLAN = "Linked - Metro MLTC CDPAP"  # the default payer: 146.45 / 387.84 / 1046.36 since 2024-08
GOOD = [
    f"{PLAN},Other (Skilled),2443,146.45,1,Yes,08/01/2024,",
    f"{PLAN},Other (Skilled),2444,387.84,1,Yes,08/01/2024,",
    f"{PLAN},Other (Skilled),2445,1046.36,1,Yes,08/01/2024,",
]


def check(capsys, tmp_path: Path, rows: list[str], *extra: str) -> tuple[int, dict, str]:
    path = tmp_path / "billing_rates.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    argv = ["service-setup", "--billing-rates", path, "--month", "2026-10", *extra]
    code, out, _ = run(capsys, *argv, "--format", "json")
    text = run(capsys, *argv)[1]
    return code, json.loads(out), text


def codes(payload: dict) -> list[tuple[str, int | None]]:
    return [(f["code"], f["row"]) for f in payload["billing_rates"]]


def test_rates_that_match_the_rate_table_pass(capsys, tmp_path):
    code, out, text = check(capsys, tmp_path, GOOD)
    assert code == 0 and out["valid"] and out["billing_rates"] == []
    assert "The billing rates match the rate table." in text


def test_a_missing_tier_rate_is_named_with_its_months(capsys, tmp_path):
    code, out, text = check(capsys, tmp_path, GOOD[:2])
    assert code == 1 and codes(out) == [("billing-rate-missing", None)]
    (f,) = out["billing_rates"]
    assert f["value"] == "2445" and "2024-08 to 2026-10" in f["message"]


def test_an_inactive_rate_warns_and_leaves_its_months_missing(capsys, tmp_path):
    rows = [*GOOD[:2], GOOD[2].replace(",Yes,", ",No,")]
    code, out, _ = check(capsys, tmp_path, rows)
    assert code == 1
    assert sorted(codes(out), key=str) == [
        ("billing-rate-inactive", 4),
        ("billing-rate-missing", None),
    ]


def test_a_rate_other_than_the_tiers_is_an_error(capsys, tmp_path):
    rows = [*GOOD[:2], GOOD[2].replace("1046.36", "1036.00")]
    code, out, text = check(capsys, tmp_path, rows)
    assert code == 1 and codes(out) == [("billing-rate-mismatch", 4)]
    assert "1046.36 in 2024-08 to 2026-10" in out["billing_rates"][0]["message"]
    assert "billing rates line 4, Rate (billing-rate-mismatch)" in text


def test_the_rate_in_force_each_month_is_the_one_compared(capsys, tmp_path):
    # 146.45 from January 2024: the rate table has 145.00 until 2024-07-31
    rows = [GOOD[0].replace("08/01/2024", "01/01/2024"), *GOOD[1:]]
    code, out, _ = check(capsys, tmp_path, rows)
    found = [f for f in out["billing_rates"] if f["code"] == "billing-rate-mismatch"]
    assert code == 1 and len(found) == 1
    assert "145.00 in 2024-01 to 2024-07" in found[0]["message"]


def test_billing_units_other_than_one(capsys, tmp_path):
    code, out, _ = check(capsys, tmp_path, [GOOD[0].replace(",1,Yes", ",2,Yes"), *GOOD[1:]])
    assert code == 1 and codes(out) == [("billing-units", 2)]


def test_a_gap_between_to_and_from_dates(capsys, tmp_path):
    rows = [
        GOOD[0].replace("08/01/2024,", "08/01/2024,06/30/2026"),
        GOOD[0].replace("08/01/2024,", "08/01/2026,"),
        *GOOD[1:],
    ]
    code, out, _ = check(capsys, tmp_path, rows)
    assert code == 1
    assert sorted(codes(out), key=str) == [("billing-rate-gap", 3), ("billing-rate-missing", None)]
    gap = next(f for f in out["billing_rates"] if f["code"] == "billing-rate-gap")
    assert "from 2026-07-01 to 2026-07-31" in gap["message"]
    missing = next(f for f in out["billing_rates"] if f["code"] == "billing-rate-missing")
    assert "2026-07." in missing["message"]


def test_a_value_that_is_not_a_number_or_date_names_its_line(capsys, tmp_path):
    rows = [GOOD[0].replace("146.45", "abc"), GOOD[1].replace("08/01/2024", "2024/13/01"), GOOD[2]]
    code, out, _ = check(capsys, tmp_path, rows)
    assert code == 1
    assert {("billing-rate-value", 2), ("billing-rate-value", 3)} <= set(codes(out))


def test_a_mapping_file_names_the_exports_columns(capsys, tmp_path):
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        '[columns]\ncontract = "Contract Name"\nservice_code = "Code"\nrate = "Amount"\n'
        'billing_units = "Units"\nactive = "Is Active"\nfrom_date = "Start"\nto_date = "End"\n'
        '[values]\nactive = ["true"]\n[format]\ndate_formats = ["%Y-%m-%d"]\n',
        encoding="utf-8",
    )
    path = tmp_path / "other.csv"
    path.write_text(
        "Contract Name,Code,Amount,Units,Is Active,Start,End\n"
        + "".join(f"{PLAN},{c},{r},1,TRUE,2024-08-01,\n" for c, r in
                  (("2443", "146.45"), ("2444", "387.84"), ("2445", "1046.36"))),
        encoding="utf-8",
    )  # fmt: skip
    argv = ["service-setup", "--billing-rates", path, "--billing-rates-mapping", mapping]
    code, out, _ = run(capsys, *argv, "--month", "2026-10", "--format", "json")
    assert code == 0 and json.loads(out)["billing_rates"] == []
    code, _, err = run(capsys, "service-setup", "--billing-rates", path, "--month", "2026-10")
    assert code == 2 and "lacks the column" in err  # the bundled mapping's headers


def test_nothing_to_check_is_a_usage_error(capsys):
    code, _, err = run(capsys, "service-setup", "--month", "2026-10")
    assert code == 2 and "--billing-rates" in err
