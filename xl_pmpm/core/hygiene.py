"""Cells a biller cannot see are wrong: invisible characters, Excel's error values,
look-alike digits, hours no month has, tier labels the rate book does not know.

Each check is a small function over one column (or the table) returning finding
frames; `validation.validate_table` calls them beside its own checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from xl_pmpm.core.findings import WARNING, finding_rows
from xl_pmpm.core.layout import Column, Layout
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.values import (
    INVISIBLE,
    Distinct,
    Spread,
    column_values,
    invisible_characters,
    per_value,
)

# What Excel shows in a cell whose formula failed; a CSV saved from it keeps the text.
EXCEL_ERRORS = (
    "#N/A",
    "#REF!",
    "#VALUE!",
    "#DIV/0!",
    "#NAME?",
    "#NULL!",
    "#NUM!",
    "#SPILL!",
    "#CALC!",
    "#GETTING_DATA",
    "#FIELD!",
    "#BLOCKED!",
    "#CONNECT!",
    "#BUSY!",
    "#UNKNOWN!",
    "#EXTERNAL!",
    "#PYTHON!",
)
_EXCEL_ERROR = "(?i)" + "|".join(e.replace("?", r"\?").replace("/", r"\/") for e in EXCEL_ERRORS)
_INVISIBLE_RE = re.compile(INVISIBLE)
# Hour columns that cannot exceed the hours of the billing month.
HOUR_ROLES = ("billed_hours", "unbilled_hours", "authorized_hours")


def is_excel_error(values: pd.Series) -> pd.Series:
    """Where a value (spaces and invisible characters aside) is one of Excel's error values."""
    out = pd.Series(False, index=values.index)
    maybe = values.str.contains("#", regex=False).fillna(False).to_numpy(bool)  # #N/A, #REF!
    if maybe.any():
        bare = values[maybe].str.replace(INVISIBLE, "", regex=True).str.strip()
        out[maybe] = bare.str.fullmatch(_EXCEL_ERROR).fillna(False).astype(bool)
    return out


def has_invisible(values: pd.Series) -> pd.Series:
    """Where a value holds an invisible character."""
    return values.str.contains(INVISIBLE, regex=True)


def cell_findings(
    rows: pd.Index, col: Column, raw: pd.Series, filled: pd.Series, checks: pd.DataFrame | Spread
) -> list[pd.DataFrame]:
    """Excel error values, invisible characters and non-ASCII digits in one column."""
    out: list[pd.DataFrame] = []
    name = col.name
    errors = filled & checks["excel_error"]
    if errors.any():
        shown = raw[errors].str.replace(INVISIBLE, "", regex=True).str.strip().str.upper()
        out.append(
            finding_rows(
                "excel-error",
                rows[errors],
                name,
                raw[errors],
                name + " holds Excel's error value " + shown + ", not a value: a formula failed.",
            )
        )
    hidden = filled & checks["invisible"]
    if hidden.any():
        where = per_value(raw[hidden], lambda u: u.map(_describe_invisible))
        out.append(
            finding_rows(
                "invisible-character",
                rows[hidden],
                name,
                raw[hidden],
                name + " holds " + where + ".",
                # a name may rightly join letters (ZWJ, ZWNJ); it never reaches an ID check
                severity=WARNING if col.role == "patient_name" else None,
            )
        )
    foreign = filled & checks["foreign_digits"]
    if foreign.any():
        out.append(
            finding_rows(
                "type",
                rows[foreign],
                name,
                raw[foreign],
                f"{name} holds digits other than 0-9 (full-width or another script's): "
                "type it with the digits 0-9.",
            )
        )
    return out


def _describe_invisible(text: str) -> str:
    found = invisible_characters(text)
    first = found[0]
    where = _INVISIBLE_RE.search(text)  # there is one: `found` holds it
    at = where.start() + 1 if where is not None else 0
    more = f" and {len(found) - 1} more" if len(found) > 1 else ""
    return f"an invisible character, {first}, at character {at}{more}"


def _plain_hours(values: pd.Series) -> pd.Series:
    """Values written as plain numbers, as numbers (NaN otherwise)."""
    text = values.str.strip()
    return pd.to_numeric(text.where(text.str.fullmatch(r"[0-9.eE+-]+"), None), errors="coerce")


def hours_implausible(
    table: pd.DataFrame,
    layout: Layout,
    live: pd.Series,
    month: pd.Period | None,
    coded: Mapping[str, Distinct] | None = None,
) -> list[pd.DataFrame]:
    """Hours above what the billing month has (24 x its days): a typo or a unit mix-up.

    `coded`: the table's columns already factorized (validation's), by name."""
    if month is None:
        return []
    limit = month.days_in_month * 24
    out = []
    for role in HOUR_ROLES:
        col = layout.column(role)
        if col is None or col.name not in table.columns:
            continue
        hours = column_values(table, col.name, _plain_hours, coded)  # once per distinct value
        over = live & (hours > limit).fillna(False).astype(bool)
        if over.any():
            out.append(
                finding_rows(
                    "hours-implausible",
                    table.index[over],
                    col.name,
                    table.loc[over, col.name],
                    f"{col.name} is more than the {limit} hours {month.strftime('%B %Y')} has.",
                )
            )
    return out


def tier_labels(book: RateBook) -> list[str]:
    """The tier labels of the rate book, lowest first ('1', '2', '3')."""
    return [str(int(t)) for t in sorted(set(book.rates["tier"].dropna()))]


def tier_not_a_label(
    table: pd.DataFrame,
    layout: Layout,
    book: RateBook,
    live: pd.Series,
    coded: Mapping[str, Distinct] | None = None,
) -> list[pd.DataFrame]:
    """A Tier that is not exactly one of the rate book's labels ('01', 'Tier 1', '1.0'),
    each distinct value tested once (`coded`: validation's factorized columns)."""
    col = layout.column("tier")
    if col is None or col.name not in table.columns:
        return []
    labels = tier_labels(book)

    def not_a_label(raw: pd.Series) -> pd.Series:
        values = raw.str.strip()
        bad = (values != "") & ~values.isin(labels) & ~is_excel_error(raw)
        return bad & ~raw.str.contains(INVISIBLE, regex=True)  # reported as invisible-character

    bad = live & column_values(table, col.name, not_a_label, coded)
    if not bad.any():
        return []
    raw = table.loc[bad, col.name].fillna("").astype(str)
    return [
        finding_rows(
            "allowed-value",
            table.index[bad],
            col.name,
            raw,
            f"{col.name} must be exactly one of the rate book's tier labels: {', '.join(labels)}.",
        )
    ]


# Findings computed from the hours, which mean nothing when the hours are impossible.
_FROM_HOURS = ("tier-mismatch", "tier-at-risk", "service-code-mismatch", "below-minimum-hours")


def without_tier_noise(findings: pd.DataFrame) -> pd.DataFrame:
    """`findings` less the tier findings of rows whose hours are impossible (fix those first)."""
    impossible = findings.loc[findings["code"] == "hours-implausible", "row"]
    if impossible.empty:
        return findings
    noise = findings["code"].isin(_FROM_HOURS) & findings["row"].isin(set(impossible))
    return findings[~noise.fillna(False)].reset_index(drop=True)
