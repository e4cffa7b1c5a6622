"""Checks of whole rows: lines that are not member rows (blank, a repeated header, a
totals line), situational pairs, times that end before they start or fall outside the
billing month, and the same member on several lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from xl_pmpm.core.findings import finding_rows
from xl_pmpm.core.layout import Column, Layout
from xl_pmpm.core.values import (
    SPACE,
    Distinct,
    column_values,
    distinct_values,
    leading_bytes,
    letters_and_digits,
    member_key,
    member_keys,
    per_value_columns,
    squash,
    squash_values,
)

# A totals line a biller or Excel added under the report ("Total", "Grand Total:", "Sum").
_TOTAL_LABEL = re.compile(
    rf"(?i){SPACE}*(?:grand{SPACE}+|sub{SPACE}*)?(?:totals?|sum){SPACE}*:?{SPACE}*"
)


def _is_text(values: pd.Series, wants: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Where each value squashes to its column's text (value i's is `wants[owner[i]]`); only
    values starting with its letter are squashed."""
    out = np.zeros(len(values), dtype=bool)
    maybe = np.zeros(len(values), dtype=bool)
    rest = np.ones(len(values), dtype=bool)
    head = leading_bytes(values, 2)
    if head is not None:
        # A first byte of printable ASCII other than a space is the value's first letter
        # (nothing to strip before it), casefolded as ASCII lowercases: told from the bytes;
        # and so is a second such byte its second (no spaces to squash between them).
        printable = (head > 0x20) & (head < 0x7F)
        lower = np.where((head >= 0x41) & (head <= 0x5A), head + 32, head)
        plain, two = printable[:, 0], printable[:, 0] & printable[:, 1]
        letter = np.array([[ord(c) if c.isascii() else -1 for c in (w + "  ")[:2]] for w in wants])
        maybe[plain] = lower[plain, 0] == letter[owner[plain], 0]
        maybe[two] &= lower[two, 1] == letter[owner[two], 1]
        rest = ~plain
    if rest.any():
        maybe[rest] = _starts_as(values[rest], wants, owner[rest])
    if maybe.any():
        out[maybe] = squash_values(values[maybe]).to_numpy(object) == wants[owner[maybe]]
    return out


def _starts_as(values: pd.Series, wants: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Where each value's first letter (spaces aside), casefolded, is its column text's: each
    distinct letter casefolded once, against each column's, looked up per value."""
    codes, letters = pd.factorize(values.str.lstrip().str[:1], use_na_sentinel=False)
    starts = np.array(
        [[str(c).casefold() == w[:1] for w in wants] for c in letters], dtype=bool
    ).reshape(len(letters), len(wants))
    return starts[codes, owner]


def repeated_header_rows(
    table: pd.DataFrame, coded: dict[str, Distinct] | None = None
) -> pd.Series:
    """True where a row repeats the header (two exports pasted together).

    A row counts when at least half of the columns, and at least three, hold
    their own column name (spacing and case aside).
    """
    hits = np.zeros(len(table), dtype=np.int64)
    wants = np.array([squash(name) for name in table.columns], dtype=object)
    columns = _columns(table, list(table.columns), coded)
    for hit in per_value_columns(
        columns, lambda u, owner: pd.Series(_is_text(u, wants, owner), index=u.index)
    ):
        hits += hit.to_numpy(int)
    return pd.Series(hits >= max(3, (len(table.columns) + 1) // 2), index=table.index)


def totals_rows(
    table: pd.DataFrame, layout: Layout, coded: dict[str, Distinct] | None = None
) -> pd.Series:
    """True where a row is a totals line: a 'Total' label and no member ID."""
    label = np.zeros(len(table), dtype=bool)
    col = layout.column("patient_number")
    id_name = col.name if col is not None and col.name in table.columns else None
    # a label in the ID column is an ID, not a totals line
    columns = _columns(table, [n for n in table.columns if n != id_name], coded)
    for hit in per_value_columns(columns, lambda u, _: u.str.fullmatch(_TOTAL_LABEL.pattern)):
        label |= hit.to_numpy(bool)
    if id_name is not None:
        label &= (table[id_name].fillna("").str.strip() == "").to_numpy()
    return pd.Series(label, index=table.index)


def blank_rows(table: pd.DataFrame, coded: dict[str, Distinct] | None = None) -> pd.Series:
    """True where every cell of the row is empty or spaces."""
    blank = np.ones(len(table), dtype=bool)
    columns = _columns(table, list(table.columns), coded)
    for empty in per_value_columns(columns, lambda u, _: u.str.strip() == ""):
        blank &= empty.to_numpy(bool)
    return pd.Series(blank, index=table.index)


def _columns(
    table: pd.DataFrame, names: list, coded: dict[str, Distinct] | None
) -> list[pd.Series | Distinct]:
    """The columns `names` of `table`, as already factorized in `coded` where they are."""
    coded = coded or {}
    return [coded[name] if name in coded else table[name] for name in names]


def pair_findings(
    table: pd.DataFrame,
    layout: Layout,
    live: pd.Series,
    coded: Mapping[str, Distinct] | None = None,
) -> list[pd.DataFrame]:
    """Situational columns come in pairs: both filled or both blank (`coded`: the table's
    columns already factorized, by name: each distinct value tested once)."""
    out = []
    pairs: dict[str, list[Column]] = {}
    for c in layout.columns:
        if c.required == "situational" and c.pair and c.name in table.columns:
            pairs.setdefault(c.pair, []).append(c)
    for cols in pairs.values():
        blank = pd.DataFrame({c.name: column_values(table, c.name, _is_blank, coded) for c in cols})
        some = live & blank.any(axis=1) & ~blank.all(axis=1)
        for c in cols:
            mask = some & blank[c.name]
            others = ", ".join(o.name for o in cols if o is not c)
            if mask.any():
                out.append(
                    finding_rows(
                        "required",
                        table.index[mask],
                        c.name,
                        "",
                        f"{c.name} is blank while {others} is filled: "
                        "fill both, or clear both to defer.",
                    )
                )
    return out


def _is_blank(values: pd.Series) -> pd.Series:
    return values.str.strip() == ""


def time_findings(
    table: pd.DataFrame, layout: Layout, parsed: dict[str, pd.Series], month: pd.Period | None
) -> list[pd.DataFrame]:
    out = []
    for start_role, end_role in (("schedule_start", "schedule_end"), ("visit_start", "visit_end")):
        s, e = layout.column(start_role), layout.column(end_role)
        if s and e and s.name in parsed and e.name in parsed:
            bad = (parsed[e.name] < parsed[s.name]).fillna(False)
            if bad.any():
                out.append(
                    finding_rows(
                        "end-before-start",
                        table.index[bad],
                        e.name,
                        table.loc[bad, e.name],
                        f"{e.name} is before {s.name}.",
                    )
                )
    if month is not None:
        for name, stamps in parsed.items():
            outside = stamps.notna() & _outside(stamps, month)
            if outside.any():
                out.append(
                    finding_rows(
                        "outside-billing-month",
                        table.index[outside],
                        name,
                        table.loc[outside, name],
                        f"{name} is not in the billing month {month}.",
                    )
                )
    return out


def _outside(stamps: pd.Series, month: pd.Period) -> pd.Series:
    """Where a timestamp is not in `month`: before its first instant or from the next month's
    on (no period made per row); per row where those instants are beyond a timestamp's years."""
    try:
        first, after = month.start_time, (month + 1).start_time
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        return stamps.dt.to_period("M") != month
    return (stamps < first) | (stamps >= after)


def joined_per_member(values: pd.Series, member: pd.Series, sep: str) -> pd.Series:
    """Each row's value joined with its member's other rows' values, in row order.

    One join per member, spread back by a lookup: a ``transform`` with a Python function
    costs pandas' per-group overhead on every member (seconds at 10,000 members).
    """
    joined = values.groupby(member, sort=False).agg(sep.join)
    return member.map(joined)


def _repeated_members(ids: Distinct, live: pd.Series) -> pd.Series:
    """Live rows whose member key (not blank) another live row has too: the keys made once
    per distinct ID, the rows counted per key by their codes (no hashing of every row)."""
    if letters_and_digits(ids.uniques).all():  # plain IDs are their own keys
        keys, codes = ids.uniques, ids.codes
    elif bool(((keys := member_keys(ids.uniques)) == ids.uniques).all()):
        codes = ids.codes  # no ID changed: distinct IDs, distinct keys
    else:
        key_of, keys = pd.factorize(keys)
        codes = key_of[ids.codes]
    counted = live.to_numpy(bool) & (np.asarray(keys != "", dtype=bool)[codes])
    many = np.bincount(codes[counted], minlength=len(keys)) > 1
    return pd.Series(counted & many[codes], index=ids.index)


def duplicate_members(
    table: pd.DataFrame, layout: Layout, live: pd.Series, coded: dict[str, Distinct]
) -> list[pd.DataFrame]:
    col = layout.column("patient_number")
    if col is None or col.name not in table.columns:
        return []
    dup = _repeated_members(coded.get(col.name) or distinct_values(table[col.name]), live)
    if not dup.any():
        return []
    ids = member_key(coded.get(col.name, table[col.name])).where(live, "")
    lines = pd.Series(table.index, index=table.index).astype(str)
    listing = joined_per_member(lines[dup], ids[dup], ", ")
    message = "The same member is on lines " + listing + "."
    contract, billed = layout.column("contract"), layout.column("billed_hours")
    if (
        contract is not None
        and billed is not None
        and {contract.name, billed.name} <= set(table.columns)
    ):
        # Under two contracts: one PMPM, tiered on the hours of all of them (seed 001).
        contracts = table.loc[dup, contract.name].fillna("").astype(str).str.strip()
        split = contracts.groupby(ids[dup]).transform("nunique") > 1
        if split.any():
            shown = table.loc[dup, billed.name].fillna("").astype(str).str.strip()
            hours = pd.to_numeric(shown, errors="coerce")
            group = ids[dup]
            added = joined_per_member(shown.where(shown != "", "?"), group, " + ")
            total = hours.groupby(group).transform("sum").map("{:.2f}".format)
            total = total.where(hours.isna().groupby(group).transform("sum") == 0, "?")
            message = message.where(
                ~split,
                "The same member is on lines "
                + listing
                + ", under different contracts: a PMPM is billed once per member and month, "
                "on the hours of all its contracts. Add up their "
                + billed.name
                + " ("
                + added
                + " = "
                + total
                + "), put the total on one row and give it the tier of that total.",
            )
    return [
        finding_rows(
            "duplicate-member", table.index[dup], col.name, table.loc[dup, col.name], message
        )
    ]
