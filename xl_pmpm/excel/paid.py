"""The Paid button: each exported member-month's 835 result on the Paid sheet.

Reads Settings "Remittance files" (one 835 or several separated by ";"), the ledger
(Settings "Ledger file") and the as-of date (blank: today); the rules are
`core.remittance`'s, the files `io.remittance`'s, as `xl-pmpm paid` reads them. What can
be recovered first (nearest deadline first), then the paid ones; one write of the table.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import xlwings as xw

from xl_pmpm.core.errors import PmpmError
from xl_pmpm.core.remittance import RECOVERABLE, RESULTS
from xl_pmpm.core.vocabulary import PAID, PAID_TABLE
from xl_pmpm.excel.settings_sheet import ledger_path, read_context, settings_as_of
from xl_pmpm.excel.toolkit import alert, column_runs, get_sheet, write_table
from xl_pmpm.io import ledger
from xl_pmpm.io.ledger import default_ledger
from xl_pmpm.io.remittance import remittance_from_files
from xl_pmpm.workbook.sheet_xml import column_letter as col_letter
from xl_pmpm.workbook.sheets import PAID_HEADERS, PAID_TEXT


def paid_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The Paid sheet's rows (PAID_HEADERS) of `judge_remittance`'s results."""
    order = results.assign(_later=~results["result"].isin(RECOVERABLE)).sort_values(
        ["_later", "days_left", "month", "payer"], kind="stable"
    )
    return pd.DataFrame(
        {
            "Result": order["result"],
            "Days left": order["days_left"].astype("int64"),
            "Last day": order["submit_until"].astype(str),
            "Month": order["month"],
            "Payer": order["payer"],
            "Contract": order["contract"],
            "Patient Number": order["patient_number"],
            "Tier": order["tier"].astype("Int64"),
            "Billed": order["rate"].astype(float),
            "Paid": order["paid"].astype(float),
            "Difference": order["difference"].astype(float),
            "Paid tier": pd.array(order["paid_tier"], dtype="Int64"),
            "Reason code": order["carc"],
            "Reason": order["carc_meaning"],
            "Claims": order["claims"].astype("int64"),
            "What to do": order["result"].map(lambda r: RESULTS[r][1]),
        },
        columns=PAID_HEADERS,
    )


def paid_steps(book: xw.Book, step: Callable[[str], None]) -> None:
    title = PAID  # the alert titles read as the button
    settings, _, rates = read_context(book)
    named = str(settings.get("remittance files") or "").strip()
    if not named:
        alert(book, 'Name the 835 file(s) on the Settings sheet ("Remittance files").', title)
        return
    db = ledger_path(settings, book) or default_ledger()
    try:
        found = remittance_from_files(
            [p.strip() for p in named.split(";") if p.strip()],
            ledger.history(str(db)),
            rates,
            settings_as_of(settings),
        )
    except (PmpmError, ValueError) as exc:
        alert(book, str(exc), title)
        return
    step("writing the Paid sheet…")
    frame = paid_rows(found.results)
    sheet = get_sheet(book, PAID)
    for first, last in column_runs([PAID_HEADERS.index(c) + 1 for c in PAID_TEXT]):
        sheet.range(f"{col_letter(first)}:{col_letter(last)}").number_format = "@"
    body = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
    write_table(sheet, [PAID_HEADERS, *body], PAID_TABLE)
    sheet.activate()
    t = found.totals()
    alert(
        book,
        f"${t['paid_dollars']:,.2f} paid of ${t['billed_dollars']:,.2f} billed; "
        f"${t['recoverable_dollars']:,.2f} to recover in {t['recoverable_member_months']:,} "
        f"member-month(s).",
        title,
    )
