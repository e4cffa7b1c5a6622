"""The cell functions: plain calls, and calls through xlwings' custom-function entry point.

``XLWINGS_ON_SERVER=true`` must be set before xlwings is first imported for ``xw.func``
to register Office.js metadata; conftest has already imported xlwings, so those calls
run in a fresh interpreter (subprocess) that prints JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date

import pytest

from xl_pmpm.excel import lite_main, udfs

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


def test_lite_main_reexports_the_functions_and_scripts() -> None:
    assert lite_main.PMPM_TIER([[160]], "*", "2026-10") == [[2]]
    for name in ("load_extract", "refresh_flags", "delete_rows", "defer_rows", "restore_rows"):
        assert callable(getattr(lite_main, name))
    for name in ("validate", "export", "show_help"):
        assert callable(getattr(lite_main, name))


_ENTRY = textwrap.dedent(
    """
    import asyncio, json, os
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
    }, default=str))
    """
)


@pytest.fixture(scope="module")
def entry_point() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLWINGS_ON_SERVER"}
    done = subprocess.run(
        [sys.executable, "-c", _ENTRY], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_functions_register_through_the_office_js_decorators(entry_point: dict) -> None:
    assert entry_point["registered"] == [
        "PMPM_AT_RISK",
        "PMPM_RATE",
        "PMPM_RATE_CODE",
        "PMPM_SUBMIT_WINDOW",
        "PMPM_TIER",
        "PMPM_TIER_IF_BILLED",
    ]


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
