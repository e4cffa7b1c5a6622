"""The cell functions: plain calls, and calls through xlwings' custom-function entry point.

``XLWINGS_ON_SERVER=true`` must be set before xlwings is first imported for ``xw.func``
to register Office.js metadata; conftest has already imported xlwings, so those calls
run in a fresh interpreter (subprocess) that prints JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import date
from typing import Any

import pandas as pd
import pytest

from xl_pmpm.core.flags import flag_tier_risk
from xl_pmpm.excel import lite_main, udfs
from xl_pmpm.io import files
from xl_pmpm.workbook.actions import CELL_FUNCTIONS, HELP_SEPARATOR

HELP_FUNCTIONS = [(f.signature, f.example, f.result) for f in CELL_FUNCTIONS]

BOUNDARIES = [0, 0.99, 1, 159.99, 160, 479.99, 480]


def test_tier_boundaries_scalar_and_column() -> None:
    assert [udfs.tier_column(h, month="2026-10")[0][0] for h in BOUNDARIES] == [
        "",
        "",
        1,
        1,
        2,
        2,
        3,
    ]
    column = [[h] for h in BOUNDARIES] + [[None], ["text"], [True]]
    assert udfs.tier_column(column, month="2026-10") == [
        [""],
        [""],
        [1],
        [1],
        [2],
        [2],
        [3],
        [""],
        [""],
        [""],
    ]


def test_rate_code_and_rate() -> None:
    assert udfs.rate_code_column([[h] for h in BOUNDARIES], "*", "2026-10") == [
        [""],
        [""],
        ["2443"],
        ["2443"],
        ["2444"],
        ["2444"],
        ["2445"],
    ]
    assert udfs.rate_column(500, "*", "2025-03") == [[1046.36]]
    assert udfs.rate_column(100, "*", "2022-01") == [[145.0]]  # the 2021 rate in force


def test_tier_if_billed_and_dollar_effect() -> None:
    billed = [[155], [100], [None], ["x"], [479.99]]
    unbilled = [[10], [None], [5], [1], [0.01]]
    assert udfs.tier_if_billed_column(billed, unbilled, "2026-10") == [
        [2],
        [1],
        [""],
        [""],
        [3],
    ]
    effect = udfs.at_risk_column(billed, unbilled, "2026-10")
    assert effect == [[241.39], [0.0], [""], [""], [658.52]]
    assert udfs.at_risk_column(155, 10, "2026-10") == [[241.39]]


def test_submit_window_takes_serial_numbers_dates_and_text() -> None:
    serial = (date(2024, 1, 1) - date(1899, 12, 30)).days
    assert udfs.submit_window_rows([[serial], ["2025-03"], [None], ["soon"]]) == [
        [date(2024, 2, 1), date(2024, 4, 30)],
        [date(2025, 4, 1), date(2025, 6, 29)],
        ["", ""],
        ["", ""],
    ]
    assert udfs.excel_month(45566.0) == udfs.excel_month("2024-10")


def serial(day: date) -> int:
    return (day - date(1899, 12, 30)).days


def test_prorate_and_units_columns_with_blanks_text_and_bad_spans() -> None:
    starts = [[serial(date(2024, 1, 17))], [serial(date(2024, 2, 1))], [""], ["soon"], [None]]
    ends = [[serial(date(2024, 3, 10))], [serial(date(2024, 2, 10))], [serial(date(2024, 2, 10))]]
    ends += [[serial(date(2024, 2, 10))], [serial(date(2024, 2, 10))]]
    # One rate for the whole column: 146.45 x (15/31 + 1 + 10/31) and 146.45 x 10/29.
    assert udfs.prorate_cost_column(146.45, starts, ends) == [[264.55], [50.5], [""], [""], [""]]
    assert udfs.units_column(starts, ends) == [[3], [1], [""], [""], [""]]
    rates = [[290], ["290"], [True], [""], [290]]
    feb = [[serial(date(2024, 2, 1))]] * 5
    feb10 = [[serial(date(2024, 2, 10))]] * 4 + [[serial(date(2024, 1, 31))]]  # last: end < start
    assert udfs.prorate_cost_column(rates, feb, feb10) == [[100.0], [""], [""], [""], [""]]
    assert udfs.units_column(feb, feb10)[-1] == [""]
    assert udfs.prorate_cost_column(290, "2024-02-01", "2024-02-10") == [[100.0]]
    assert udfs.units_column(date(2024, 1, 31), date(2024, 2, 1)) == [[2]]
    # Serials no calendar holds, infinity and NaN: a blank cell, not an error.
    for bad in (1e12, float("inf"), float("nan")):
        assert udfs.units_column(serial(date(2024, 1, 1)), bad) == [[""]]


def test_prorate_cells_are_plain_python_numbers() -> None:
    cost = udfs.prorate_cost_column(100, serial(date(2024, 1, 1)), serial(date(2024, 1, 31)))
    units = udfs.units_column(serial(date(2024, 1, 1)), serial(date(2024, 1, 31)))
    assert type(cost[0][0]) is float and type(units[0][0]) is int


def test_claim_dates_rows_follow_the_payer_settings() -> None:
    months = [[serial(date(2024, 11, 1))], ["2024-11"], ["2024-02"], [""], ["soon"], [True]]
    payers = [["Elderplan"], [""], ["Not A Listed Payer"], ["Elderplan"], ["*"], ["*"]]
    assert udfs.claim_dates_rows(months, payers) == [
        [date(2024, 11, 1), date(2024, 11, 1)],
        [date(2024, 11, 1), date(2024, 11, 30)],
        [date(2024, 2, 1), date(2024, 2, 29)],
        ["", ""],
        ["", ""],
        ["", ""],
    ]
    assert udfs.claim_dates_rows([[1e12], [float("inf")]]) == [["", ""], ["", ""]]
    assert udfs.submit_window_rows([[1e12]]) == [["", ""]]
    # One payer for the whole column.
    assert udfs.claim_dates_rows([["2024-11"], ["2024-12"]], "Elderplan") == [
        [date(2024, 11, 1), date(2024, 11, 1)],
        [date(2024, 12, 1), date(2024, 12, 1)],
    ]


def test_export_code_column() -> None:
    codes = [[2443], ["2444"], [" 2445 "], ["SHP-T1"], ["T2040"], ["T2040"], [""], [None], [2443]]
    mods = [[None], [""], [None], [None], ["HI"], ["HI,22"], [None], [None], ["U1"]]
    assert udfs.export_code_column(codes, "PMPM Tier", mods) == [
        [""],
        [""],
        [""],
        ["SHP-T1:::::PMPM Tier"],
        ["T2040:HI::::PMPM Tier"],
        ["T2040:HI:22:::PMPM Tier"],
        [""],
        [""],
        ["2443:U1::::PMPM Tier"],
    ]
    assert udfs.export_code_column("T2040", "PMPM", "A,B,C,D,E") == [[""]]  # no colon left


# --- the Help sheet: every function listed, every example true ----------------------------


def pmpm_functions(module: object) -> set[str]:
    return {n for n in dir(module) if n.startswith("PMPM_") and callable(getattr(module, n))}


HELP_NAMES = [sig.split("(")[0] for sig, _, _ in HELP_FUNCTIONS]
ARG = re.compile(r'\s*("[^"]*"|DATE\(\d+,\d+,\d+\)|-?\d+(?:\.\d+)?)\s*(?:,|$)')


def example_call(formula: str) -> tuple[str, list[Any]]:
    """`=PMPM_X(1.5,"text",DATE(2024,1,17))` as (name, args), dates as Excel serials."""
    name, inner = re.fullmatch(r"=(PMPM_\w+)\((.*)\)", formula).groups()
    args: list[Any] = []
    for match in ARG.finditer(inner):
        token = match.group(1)
        if token.startswith('"'):
            args.append(token[1:-1])
        elif token.startswith("DATE("):
            args.append(serial(date(*map(int, re.findall(r"\d+", token)))))
        else:
            args.append(float(token) if "." in token else int(token))
    assert ARG.sub("", inner) == "", f"{formula}: an argument the test cannot read"
    return name, args


def shown(cells: list[list[Any]]) -> str:
    """The cells as the Help sheet's result writes them: "a, b" for a 1x2 row."""

    def one(v: Any) -> str:
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    return ", ".join(one(v) for row in cells for v in row)


def test_every_function_has_help_and_only_once() -> None:
    assert len(HELP_NAMES) == len(set(HELP_NAMES))
    assert set(HELP_NAMES) == pmpm_functions(udfs) == pmpm_functions(lite_main)
    for sig, example, result in HELP_FUNCTIONS:
        assert example.startswith(f"={sig.split('(')[0]}("), sig
        assert HELP_SEPARATOR in result, sig


@pytest.mark.parametrize("module", [udfs, lite_main], ids=["udfs", "lite_main"])
@pytest.mark.parametrize("entry", HELP_FUNCTIONS, ids=HELP_NAMES)
def test_every_help_example_gives_its_stated_result(module: object, entry: tuple) -> None:
    _, example, result = entry
    name, args = example_call(example)
    stated = result.split(HELP_SEPARATOR)[0]
    assert shown(getattr(module, name)(*args)) == stated


def test_lite_main_reexports_the_functions_and_scripts() -> None:
    assert lite_main.PMPM_TIER([[160]], "*", "2026-10") == [[2]]
    for name in ("load_extract", "refresh_flags", "delete_rows", "defer_rows", "restore_rows"):
        assert callable(getattr(lite_main, name))
    for name in ("validate", "export", "show_help"):
        assert callable(getattr(lite_main, name))


_ENTRY = textwrap.dedent(
    """
    import asyncio, json, os, sys
    os.environ["XLWINGS_LICENSE_KEY"] = "noncommercial"  # test path only
    os.environ["XLWINGS_ON_SERVER"] = "true"
    import xlwings as xw
    from xlwings.server import custom_functions_call
    from xl_pmpm.excel import udfs

    def call(name, *args):
        body = {
            "func_name": name, "args": list(args), "version": xw.__version__,
            "client": "Office.js", "runtime": "1.4", "culture_info_name": "en-US",
            "date_format": "yyyy-mm-dd",
        }
        return asyncio.run(custom_functions_call(body, udfs))

    hours = [[0], [0.99], [1], [159.99], [160], [479.99], [480], [""], ["abc"]]
    month = [[46296]]  # 2026-10-01 as Excel sends it: a serial number
    print(json.dumps({
        "registered": sorted(n for n in dir(udfs) if hasattr(getattr(udfs, n), "__xlfunc__")),
        "tier": call("PMPM_TIER", hours, None, month),
        "tier_scalar": call("PMPM_TIER", [[160]]),
        "code": call("PMPM_RATE_CODE", hours, [["*"]], month),
        "rate": call("PMPM_RATE", [[500]], [["*"]], [[45717]]),
        "if_billed": call("PMPM_TIER_IF_BILLED", [[155], [""]], [[10], [1]], month),
        "at_risk": call("PMPM_AT_RISK", [[155], [100], ["x"]], [[10], [""], [1]], month),
        "window": call("PMPM_SUBMIT_WINDOW", [[45717], [""]]),
        "prorate": call(
            "PMPM_PRORATE", [[146.45]], [[45308], [45323], [""], ["soon"], [45323]],
            [[45361], [45332], [45332], [45332], [45322]],
        ),
        "units": call("PMPM_UNITS", [[45308], [45322], [""], ["x"]], [[45361], [45323], [1], [1]]),
        "claim_dates": call(
            "PMPM_CLAIM_DATES",
            [[45597], [45597], [""], ["soon"]],
            [["Elderplan"], [""], [""], [""]],
        ),
        "claim_default": call("PMPM_CLAIM_DATES", [[45597]]),
        "export_code": call(
            "PMPM_EXPORT_CODE",
            [[2443], ["SHP-T1"], ["T2040"], [""]],
            [["PMPM"]],
            [[""], [""], ["HI"], [""]],
        ),
        "help": {
            example: call(name, *[[[a]] for a in args])
            for example, (name, args) in json.loads(sys.argv[1]).items()
        },
    }, default=str))
    """
)


@pytest.fixture(scope="module")
def entry_point() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLWINGS_ON_SERVER"}
    examples = {example: example_call(example) for _, example, _ in HELP_FUNCTIONS}
    done = subprocess.run(
        [sys.executable, "-c", _ENTRY, json.dumps(examples)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_functions_register_through_the_office_js_decorators(entry_point: dict) -> None:
    assert entry_point["registered"] == sorted(pmpm_functions(udfs)) == sorted(HELP_NAMES)


def test_entry_point_columns_with_blanks_and_text(entry_point: dict) -> None:
    assert entry_point["tier"] == [[""], [""], [1], [1], [2], [2], [3], [""], [""]]
    assert entry_point["tier_scalar"] == [[2]]
    codes = [r[0] for r in entry_point["code"]]
    assert codes == ["", "", "2443", "2443", "2444", "2444", "2445", "", ""]
    assert entry_point["rate"] == [[1046.36]]
    assert entry_point["if_billed"] == [[2], [""]]
    assert entry_point["at_risk"] == [[241.39], [0.0], [""]]


def test_entry_point_submit_window_is_one_row_per_month(entry_point: dict) -> None:
    first, blank = entry_point["window"]
    assert len(first) == 2 and blank == ["", ""]
    serials = [(d - date(1899, 12, 30)).days for d in (date(2025, 4, 1), date(2025, 6, 29))]
    assert [cell["basicValue"] for cell in first] == serials  # dates go back as serials
    assert {cell["type"] for cell in first} == {"FormattedNumber"}


def from_serials(cells: list[list[Any]]) -> list[list[Any]]:
    """Date cells come back as {"type": "FormattedNumber", "basicValue": serial}."""
    return [
        [
            date.fromordinal(date(1899, 12, 30).toordinal() + int(c["basicValue"]))
            if isinstance(c, dict)
            else c
            for c in row
        ]
        for row in cells
    ]


def test_entry_point_prorate_and_units(entry_point: dict) -> None:
    # 45308 = 2024-01-17, 45361 = 2024-03-10, 45323 = 2024-02-01, 45332 = 2024-02-10.
    assert entry_point["prorate"] == [[264.55], [50.5], [""], [""], [""]]
    assert entry_point["units"] == [[3], [2], [""], [""]]  # 45322 = 2024-01-31


def test_entry_point_claim_dates_and_export_codes(entry_point: dict) -> None:
    assert from_serials(entry_point["claim_dates"]) == [
        [date(2024, 11, 1), date(2024, 11, 1)],
        [date(2024, 11, 1), date(2024, 11, 30)],
        ["", ""],
        ["", ""],
    ]
    assert from_serials(entry_point["claim_default"]) == [[date(2024, 11, 1), date(2024, 11, 30)]]
    assert entry_point["export_code"] == [[""], ["SHP-T1:::::PMPM"], ["T2040:HI::::PMPM"], [""]]


def test_entry_point_gives_every_help_result(entry_point: dict) -> None:
    for _, example, result in HELP_FUNCTIONS:
        got = from_serials(entry_point["help"][example])
        assert shown(got) == result.split(HELP_SEPARATOR)[0], example


def test_the_dollar_functions_take_the_payer() -> None:
    """PMPM_AT_RISK and PMPM_TIER_IF_BILLED price at the payer's own rates, as the row's
    Dollar effect does: Sample Health Plan's 245.00, not the default payer's 241.39."""
    own = "Sample Health Plan"
    assert udfs.at_risk_column(155, 10, "2025-03", own) == [[245.0]]
    assert udfs.at_risk_column(155, 10, "2025-03") == [[241.39]]
    assert udfs.tier_if_billed_column(155, 10, "2025-03", own) == [[2]]
    flags = flag_tier_risk(
        pd.DataFrame(
            {
                "Primary Contract": ["Sample Health Plan PMPM"],
                "Billed Hours": ["155"],
                "Unbilled Hours": ["10"],
            }
        ),
        files.load_layout(),
        files.load_rate_book(),
        pd.Timestamp("2025-03-01"),
    )
    assert flags["dollar_effect"].iloc[0] == 245.0
