"""The billing month: the month most readable schedule start dates fall in (ties: the
earliest), and how many months appear; over the live rows only, where a mask is given.

`billing_month` reads each distinct date once; here it is held to the plain definition
(every row's date parsed, `Series.mode`) on dates with blanks, spaces, other forms and ties.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from xl_pmpm.core.validation import billing_month
from xl_pmpm.core.value_checks import parse_datetimes
from xl_pmpm.core.values import distinct_values
from xl_pmpm.io import files

LAYOUT = files.load_layout()
START = LAYOUT.column("schedule_start")
DATES = [
    "2026-10-01 08:00",
    " 2026-09-30 10:00",
    "2026-11-02 09:00",
    "2026-10-05 08:00 ",
    "2026-10-05 8:00 PM",
    "2025-01-01 00:00",
    "10/01/2026 08:00",  # not one of the layout's forms
    "soon",
    "",
    None,
]


def plain_billing_month(table: pd.DataFrame) -> tuple[pd.Period | None, int]:
    stamps = parse_datetimes(table[START.name].fillna("").str.strip(), START).dropna()
    if stamps.empty:
        return None, 0
    months = stamps.dt.to_period("M")
    return months.mode().iloc[0], months.nunique()


@settings(max_examples=200, deadline=None)
@given(
    picks=st.lists(st.tuples(st.sampled_from(DATES), st.booleans()), max_size=40),
    factorized=st.booleans(),
)
def test_billing_month_is_the_most_common_month_of_the_live_rows(picks, factorized):
    values = [v for v, _ in picks]
    live = np.array([keep for _, keep in picks], dtype=bool)
    table = pd.DataFrame({START.name: pd.Series(values, dtype="str")})
    coded = {START.name: distinct_values(table[START.name])} if factorized else None
    assert billing_month(table, LAYOUT, coded=coded) == plain_billing_month(table)
    assert billing_month(table, LAYOUT, live, coded) == plain_billing_month(table[live])


def test_a_tie_takes_the_earlier_month():
    dates = ["2026-11-02 09:00", "2026-10-01 08:00", "2026-11-03 09:00", "2026-10-02 08:00"]
    table = pd.DataFrame({START.name: pd.Series(dates, dtype="str")})
    assert billing_month(table, LAYOUT) == (pd.Period("2026-10", freq="M"), 2)
