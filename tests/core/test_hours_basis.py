"""Which hours a payer's tier counts: `core.hours_basis`, one table for every rule.

A basis is one `HoursBasis` row: the engine (flags, visits, unbilled, review) and the
workbook's formula follow it. The workbook side, recalculated in LibreOffice, is in
tests/workbook/test_template.py (`test_libreoffice_follows_a_basis_added_as_one_row`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import run

from xl_pmpm.core import hours_basis
from xl_pmpm.core.flags import flag_tier_risk
from xl_pmpm.core.hours_basis import HoursBasis, basis_hours
from xl_pmpm.io import files
from xl_pmpm.workbook.formulas import basis_formulas

LAYOUT = files.load_layout()
BUNDLED_PAYERS = files.bundled("payers.csv").read_text(encoding="utf-8")
# A basis a payer might use: the hours on the calendar, billed or not, count now.
SCHEDULED = HoursBasis(
    "scheduled",
    now=("billed", "unbilled"),
    once_billed=("billed", "unbilled"),
    note="billed and unbilled hours (a test's basis)",
)


@pytest.fixture(name="scheduled")
def scheduled_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The bases with SCHEDULED added as one row; a payers file with a payer on it."""
    monkeypatch.setattr(hours_basis, "BASES", (*hours_basis.BASES, SCHEDULED))
    payers = tmp_path / "payers.csv"
    payers.write_text(
        BUNDLED_PAYERS.rstrip("\n")
        + "\nScheduled Plan,Scheduled Plan*,scheduled,month,90,warning,no,,,test payer\n",
        encoding="utf-8",
    )
    return payers


def _rows(contract: str, billed: list[str], unbilled: list[str], authorized: list[str]):
    n = len(billed)
    return pd.DataFrame(
        {
            LAYOUT.name_of("contract"): [contract] * n,
            LAYOUT.name_of("billed_hours"): billed,
            LAYOUT.name_of("unbilled_hours"): unbilled,
            LAYOUT.name_of("authorized_hours"): authorized,
        },
        index=pd.RangeIndex(2, n + 2),
    )


def test_each_bundled_basis_counts_its_hours() -> None:
    """Utilized: billed now, billed + unbilled once billed (blank unbilled = 0); authorized:
    authorized both times (billing visits does not move it); a blank required kind: none."""
    bases = pd.Series(["utilized", "utilized", "authorized", "authorized"])
    hours = {
        "billed": pd.Series([150.0, float("nan"), 150.0, 150.0]),
        "unbilled": pd.Series([20.0, 5.0, float("nan"), 20.0]),
        "authorized": pd.Series([300.0, 300.0, float("nan"), 300.0]),
    }
    now = basis_hours(bases, hours)
    after = basis_hours(bases, hours, once_billed=True)
    assert now.tolist()[0] == 150.0 and pd.isna(now[1]) and pd.isna(now[2]) and now[3] == 300.0
    assert after.tolist()[0] == 170.0 and pd.isna(after[1]) and after[3] == 300.0
    # A kind not given reads as a blank column: no authorized hours, no basis hours.
    assert pd.isna(basis_hours(bases, {"billed": hours["billed"]})[3])


def test_a_basis_added_as_one_row_is_the_engines_and_the_formulas(scheduled: Path) -> None:
    book = files.load_rate_book(payers=scheduled)
    table = _rows("Scheduled Plan PMPM", ["150", "150", ""], ["20", "", "30"], ["", "", ""])
    flags = flag_tier_risk(table, LAYOUT, book, pd.Timestamp("2026-10-01"))
    assert flags["hours_basis"].tolist() == ["scheduled"] * 3
    # 150 + 20 is Tier 2 now (not Tier 1 on the billed hours), and billing moves nothing.
    assert flags["tier"].tolist()[:2] == [2, 1] and pd.isna(flags["tier"].iloc[2])
    assert flags["tier_if_billed"].tolist()[:2] == [2, 1]
    assert not flags["at_risk"].any()
    # The workbook's formula gains the branch, with the same kinds.
    cells = {"billed": "B", "unbilled": "U", "authorized": "A"}
    hours, known = basis_formulas("P", cells)
    assert '="scheduled",(N(B)+N(U)),' in hours
    assert '="scheduled",ISNUMBER(B),' in known


def test_a_payer_naming_a_basis_not_in_the_table_is_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    payers = tmp_path / "payers.csv"
    payers.write_text(
        BUNDLED_PAYERS.rstrip("\n")
        + "\nScheduled Plan,Scheduled Plan*,scheduled,month,90,warning,no,,,test payer\n",
        encoding="utf-8",
    )
    code, _, err = run(capsys, "tier", "170", "--payer", "Scheduled Plan", "--payers", payers)
    assert code == 2
    assert "'scheduled' is not a known setting" in err and "utilized, authorized" in err


def test_a_payers_file_may_name_a_basis_added_as_one_row(
    capsys: pytest.CaptureFixture[str], scheduled: Path
) -> None:
    code, out, _ = run(
        capsys, "tier", "170", "--payer", "Scheduled Plan", "--payers", scheduled,
        "--month", "2026-10",
    )  # fmt: skip
    assert code == 0 and "2444" in out
