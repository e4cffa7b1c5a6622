"""Checks of the file as a whole: the informational columns it lacks, locked cells
changed from the extract, the submission window, and the payers its contracts name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from xl_pmpm.core.claims import SUBMISSION_DAYS, submission_window
from xl_pmpm.core.findings import WARNING, combine, file_finding, finding_rows
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import DEFAULT_PAYER, RateBook
from xl_pmpm.core.values import Distinct, distinct_values

# What each informational column's checks are, for the warning when a file lacks it.
CHECKS_NEEDING = {
    "billed_hours": ("tier", "service code", "discipline code", "minimum-hours", "tier-at-risk"),
    "unbilled_hours": ("tier-at-risk", "raised-tier"),
    "tier": ("tier", "raised-tier"),
}


def skipped_checks(table: pd.DataFrame, layout: Layout) -> list[pd.DataFrame]:
    """One warning naming the informational columns the file lacks and the checks skipped."""
    absent = [
        c
        for c in layout.informational_columns
        if c.name not in table.columns and c.role in CHECKS_NEEDING
    ]
    if not absent:
        return []
    names = [c.name + (f" (or {' / '.join(c.accepts)})" if c.accepts else "") for c in absent]
    listed = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    checks = list(dict.fromkeys(k for c in absent if c.role for k in CHECKS_NEEDING[c.role]))
    return [
        file_finding(
            "checks-skipped",
            f"The file has no {listed} column: the "
            f"{', '.join(checks[:-1]) + ' and ' + checks[-1] if len(checks) > 1 else checks[0]}"
            " checks are skipped.",
            field=absent[0].name,
            row=1,
        )
    ]


def check_locked_fields(
    original: pd.DataFrame, edited: pd.DataFrame, layout: Layout
) -> pd.DataFrame:
    """Findings for locked ('do not modify') cells whose value differs from the original's."""
    common = edited.index.intersection(original.index)
    parts = []
    for col in layout.columns:
        if not col.locked or col.name not in edited.columns or col.name not in original.columns:
            continue
        before = original.loc[common, col.name].fillna("")
        after = edited.loc[common, col.name].fillna("")
        changed = before != after
        if changed.any():
            parts.append(
                finding_rows(
                    "locked-modified",
                    common[changed],
                    col.name,
                    after[changed],
                    f"{col.name} differs from the extract's value.",
                )
            )
    return combine(parts)


def check_submission_window(
    month: pd.Period,
    as_of: date,
    book: RateBook | None = None,
    payers: list[str] | None = None,
) -> list[pd.DataFrame]:
    """Too early (error) or past the payer's deadline (warning, or error per payer settings).

    Seed 001 lists the window among "recommended practices": "no earlier than the
    first day of the month immediately following ... and no later than 90 days
    following the last day of the month". Each payer's days and severity are its
    `submission_days` and `late` settings; without a book, 90 days and a warning.
    """
    first, _ = submission_window(month)
    if as_of < first:
        return [
            file_finding(
                "too-early",
                f"Claims for {month} can be submitted from {first}; the as-of date is {as_of}.",
                value=str(as_of),
            )
        ]
    late: dict[tuple[date, str], list[str]] = {}
    for payer in payers or [DEFAULT_PAYER]:
        if book is None:
            days, severity = SUBMISSION_DAYS, WARNING
        else:
            settings = book.payer_settings(payer)
            days, severity = int(settings["submission_days"]), str(settings["late"])
        _, last = submission_window(month, days)
        if as_of > last:
            late.setdefault((last, severity), []).append(payer)
    out = []
    for (last, severity), names in sorted(late.items()):
        who = "" if len(late) == 1 else " (" + ", ".join(sorted(names)) + ")"
        out.append(
            file_finding(
                "past-deadline",
                f"Claims for {month}{who} had to be submitted by {last}; "
                f"the as-of date is {as_of}.",
                value=str(as_of),
                severity=severity,
            )
        )
    return out


def payer_findings(
    table: pd.DataFrame,
    layout: Layout,
    book: RateBook,
    live: pd.Series,
    month: pd.Period,
    coded: Mapping[str, Distinct] | None = None,
) -> list[pd.DataFrame]:
    """`payer-unknown` per contract no payer fits; `payer-codes-unset` per payer to verify;
    `auto-billed-contract` per row of a contract whose PMPM HHAeXchange bills itself.

    Seed 000: "Some MLTCs are using the state defaults for procedure and revenue code,
    while other MLTCs require different procedure codes. This step is critical"
    (Anthem, Elderplan): a payer whose settings say `own_codes = yes` and that has
    no rows of its own in the rate table is billed with the default codes.
    """
    col = layout.column("contract")
    if col is None or col.name not in table.columns:
        return []
    # The contracts on live rows, each distinct one stripped once (`coded`: the table's
    # columns already factorized, by name); their rows only for a finding that lists them.
    column = coded.get(col.name) if coded else None
    column = column if column is not None else distinct_values(table[col.name])
    stripped = column.uniques.str.strip()
    on_live = np.bincount(column.codes[live.to_numpy(bool)], minlength=len(stripped)) > 0
    present = stripped[on_live & (stripped != "").to_numpy(bool)].unique()
    if not len(present):
        return []
    out = []
    fits = {c: book.match_contract(c) for c in present}  # once per contract
    known = [c for c, payer in fits.items() if payer is not None]
    auto = [c for c in fits if book.is_auto_billed(c)]
    contracts = pd.Series(dtype=str)
    if len(known) < len(fits) or auto:
        contracts = table.loc[live, col.name].fillna("").str.strip()
        contracts = contracts[contracts != ""]
    unknown = contracts[~contracts.isin(known)]
    # The file's name only: no folder of this computer in a report.
    payers_file = re.split(r"[\\/]", book.payers_source)[-1]
    if not unknown.empty:
        for contract, lines in unknown.groupby(unknown, sort=True):
            out.append(
                file_finding(
                    "payer-unknown",
                    f"No payer in the payer settings ({payers_file}) fits contract "
                    f"'{contract}' ({len(lines)} row(s), first on line {lines.index[0]}): "
                    "the default payer's claim dates, codes and rates are used.",
                    field=col.name,
                    value=str(contract),
                )
            )
    if auto:
        rows = contracts[contracts.isin(auto)]
        out.append(
            finding_rows(
                "auto-billed-contract",
                rows.index,
                col.name,
                rows,
                "Contract '"
                + rows.astype(str)
                + "' is billed by HHAeXchange itself (auto_billed in the payer settings).",
            )
        )
    day = month.to_timestamp()
    payers = {payer or DEFAULT_PAYER for payer in fits.values()}  # as payer_of_contract
    for payer in sorted(payers - {DEFAULT_PAYER}):
        settings = book.payer_settings(payer)
        if settings["own_codes"] == "yes" and not book.has_own_rates(payer, day):
            out.append(
                file_finding(
                    "payer-codes-unset",
                    f"Payer '{payer}' may want its own procedure and revenue codes, but the "
                    f"rate table has no rows of its own for {month}: its rows are checked "
                    "against the default codes.",
                    field=col.name,
                    value=payer,
                )
            )
    return out
