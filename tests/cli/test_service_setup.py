"""`xl-pmpm service-setup FILE`: a service-code setup export against the rate table (seed 001)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xl_pmpm.cli import app as cli

HEADER = "Contract,Discipline,Service Code,Description,Export Code,Revenue Code,HCPCS Code"
LINKED = "Linked - Metro MLTC CDPAP"
SHP = "Sample Health Plan PMPM"
# The six codes of a linked contract, set up as seed 001 says (Export Code: the code,
# five colons, the description; or the plain rate code, which leaves FL 43/44 blank).
CLEAN = [
    f"{LINKED},PA,2443,PMPM Tier 1,2443,,2443",
    f"{LINKED},Other (Skilled),2443 Skilled,PMPM Tier 1,2443 Skilled:::::PMPM Tier 1,,2443",
    f"{LINKED},PA,2444,PMPM Tier 2,2444:::::PMPM Tier 2,,2444",
    f"{LINKED},Other (Skilled),2444 Skilled,PMPM Tier 2,2444,,2444",
    f"{LINKED},PA,2445,PMPM Tier 3,2445,,2445",
    f"{LINKED},Other (Skilled),2445 Skilled,PMPM Tier 3,2445,,2445",
    # a payer with codes of its own (the rate table's Sample Health Plan rows)
    f"{SHP},PA,SHP-T1,PMPM Tier 1,SHP-T1:::::PMPM Tier 1,0189,2443",
]


def run(capsys, tmp_path: Path, lines: list[str], *extra: str) -> tuple[int, dict]:
    path = tmp_path / "service_codes.csv"
    path.write_text("\r\n".join([HEADER, *lines]) + "\r\n", encoding="utf-8")
    code = cli.main(["service-setup", str(path), "--month", "2026-10", "--format", "json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_a_setup_as_seed_001_says_matches_the_rate_table(capsys, tmp_path):
    code, out = run(capsys, tmp_path, CLEAN)
    assert code == 0 and out["valid"] and out["setup"] == [] and out["rate_table"] == []
    assert out["rows"] == 7 and out["payers"] == ["*", "Sample Health Plan"]


@pytest.mark.parametrize(
    ("line", "code", "field"),
    [
        (f"{LINKED},PA,2444,PMPM Tier 2,2444,,2444.0", "hcpcs-mismatch", "HCPCS Code"),
        (f"{LINKED},PA,2444,PMPM Tier 2,2444,,T2040", "hcpcs-mismatch", "HCPCS Code"),
        (
            f"{LINKED},PA,2444 Skilled,PMPM Tier 2,2444,,2444",
            "discipline-code-mismatch",
            "Discipline",
        ),
        (
            f"{LINKED},Other (Skilled),2444,PMPM Tier 2,2444,,2444",
            "discipline-code-mismatch",
            "Discipline",
        ),
        (f"{LINKED},PA,2446,PMPM Tier 4,2446,,2446", "setup-code-unknown", "Service Code"),
        (f"{SHP},PA,2443,PMPM Tier 1,2443,0189,2443", "setup-code-unknown", "Service Code"),
        (
            f"{LINKED},PA,2444,PMPM Tier 2,2444::::PMPM Tier 2,,2444",
            "export-code-format",
            "Export Code",
        ),
        (f"{SHP},PA,SHP-T1,PMPM Tier 1,SHP-T1,0189,2443", "export-code-format", "Export Code"),
        (
            f"{SHP},PA,SHP-T1,PMPM Tier 1,SHP-T1:::::PMPM Tier 1,0190,2443",
            "revenue-code-mismatch",
            "Revenue Code",
        ),
    ],
)
def test_each_wrong_field_is_named_on_its_line(capsys, tmp_path, line, code, field):
    status, out = run(capsys, tmp_path, [*CLEAN, line])
    assert status == 1 and not out["valid"]
    found = [(f["code"], f["row"], f["field"]) for f in out["setup"]]
    assert found == [(code, 9, field)]
    assert out["setup"][0]["message"].strip()


def test_a_modifier_takes_the_first_of_the_five_colons(capsys, tmp_path):
    header = HEADER + ",Modifier"
    path = tmp_path / "with_modifier.csv"
    row = f"{LINKED},PA,2444,PMPM Tier 2,2444:HI::::PMPM Tier 2,,2444,HI"
    path.write_text(f"{header}\r\n{row}\r\n", encoding="utf-8")
    assert cli.main(["service-setup", str(path), "--month", "2026-10"]) == 0
    assert "matches the rate table" in capsys.readouterr().out


def test_a_blank_revenue_code_where_the_rate_table_gives_one_is_an_error(capsys, tmp_path):
    blank = f"{SHP},PA,SHP-T1,PMPM Tier 1,SHP-T1:::::PMPM Tier 1,,2443"
    code, out = run(capsys, tmp_path, [blank])
    assert code == 1 and [f["code"] for f in out["setup"]] == ["revenue-code-mismatch"]


def test_a_setup_without_a_needed_column_is_refused_naming_it(capsys, tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("Contract,Service Code\r\nX,2443\r\n", encoding="utf-8")
    assert cli.main(["service-setup", str(path)]) == 2
    err = capsys.readouterr().err
    assert "hcpcs code" in err and "short.csv" in err and "Traceback" not in err
