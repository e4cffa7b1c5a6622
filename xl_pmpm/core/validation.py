"""Validation of a tier report against the import layout, the rates and the claim rules.

One pass, vectorized per column (no Python loop per row), collecting every
finding; see findings.py for the codes.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

from xl_pmpm.core.claims import SUBMISSION_DAYS, submission_window
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.findings import WARNING, ValidationReport, combine, file_finding, finding_rows
from xl_pmpm.core.flags import flag_tier_risk
from xl_pmpm.core.hygiene import (
    cell_findings,
    has_invisible,
    hours_implausible,
    is_excel_error,
    tier_not_a_label,
    without_tier_noise,
)
from xl_pmpm.core.layout import Column, Layout
from xl_pmpm.core.rates import DEFAULT_PAYER, RateBook
from xl_pmpm.core.report import TierReport
from xl_pmpm.core.values import (
    SPACE,
    Distinct,
    distinct_values,
    member_key,
    non_ascii_digits,
    per_value_columns,
    squash,
    squash_values,
    strip_invisible,
)

FORMULA_PREFIXES = ("=", "+", "-", "@")
# A sign before a plain number or a plain name (-1000, -Smith, +O'Neil-Day) is no formula:
# it computes nothing and calls nothing (a function needs "(", a DDE link "|").
_SIGNED_PLAIN = (
    r"[+-]\s*(?:[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|[^\W\d_]+(?:(?:, |[ '’.-])[^\W\d_]+)*\.?)"
)
_MANGLED_ID = r"[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]+|[0-9]+\.0+|'.*"
# Dates as Excel rewrites them: a serial number (46296.125), or a regional form
# (10/1/2026 3:00, 01.10.2026, 2026/10/01, 1-Oct-26) where day and month may be swapped.
_DATE_SERIAL = r"\d{5}(?:\.\d+)?"
_DATE_REGIONAL = r"\d{1,4}[/.-](?:\d{1,2}|[A-Za-z]{3,9})[/.-]\d{1,4}(?:[ T].*)?"
# A totals line a biller or Excel added under the report ("Total", "Grand Total:", "Sum").
_TOTAL_LABEL = re.compile(
    rf"(?i){SPACE}*(?:grand{SPACE}+|sub{SPACE}*)?(?:totals?|sum){SPACE}*:?{SPACE}*"
)
# An ID column is expected to hold IDs of one width when this share of them has it.
_ID_WIDTH_SHARE = 0.8
_ID_WIDTH_MIN_ROWS = 5


def _is_text(values: pd.Series, want: np.ndarray) -> np.ndarray:
    """Where each value squashes to its `want`; only values starting with its letter are
    squashed."""
    out = np.zeros(len(values), dtype=bool)
    first = np.array([w[:1] for w in want], dtype=object)
    maybe = values.str.lstrip().str[:1].str.casefold().to_numpy(object) == first
    if maybe.any():
        out[maybe] = squash_values(values[maybe]).to_numpy(object) == want[maybe]
    return out


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
        columns, lambda u, owner: pd.Series(_is_text(u, wants[owner]), index=u.index)
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


def parse_datetimes(values: pd.Series, column: Column) -> pd.Series:
    """Timestamps where a value has one of the column's formats exactly, NaT elsewhere."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt, pattern in zip(column.formats, column.format_patterns(), strict=True):
        todo = out.isna() & values.str.fullmatch(pattern[1:-1])
        if todo.any():
            out[todo] = _in_range(pd.to_datetime(values[todo], format=fmt, errors="coerce"))
    return out


def _in_range(stamps: pd.Series) -> pd.Series:
    """NaT for years a nanosecond timestamp cannot hold (outside 1677-2262: 0001, 3026)."""
    inside = (stamps >= pd.Timestamp.min) & (stamps <= pd.Timestamp.max)
    return stamps.where(inside).astype("datetime64[ns]")


def billing_month(table: pd.DataFrame, layout: Layout) -> tuple[pd.Period | None, int]:
    """The month most schedule start dates fall in, and how many months appear."""
    col = layout.column("schedule_start")
    if col is None or col.name not in table.columns:
        return None, 0
    stamps = parse_datetimes(table[col.name].fillna("").str.strip(), col).dropna()
    if stamps.empty:
        return None, 0
    months = stamps.dt.to_period("M")
    return months.mode().iloc[0], months.nunique()


def formula_cells(values: pd.Series) -> pd.Series:
    """Where a text value would run as a formula when the file is opened in a spreadsheet.

    Seen through whitespace and invisible prefixes (U+200B=HYPERLINK(...) is one); a
    sign before a plain number or name (-1000, -Smith) is not.
    """
    lead = strip_invisible(values).str.lstrip()
    starts = lead.str.startswith(FORMULA_PREFIXES).to_numpy(bool)
    signed = _only(lead, starts, lambda v: v.str.fullmatch(_SIGNED_PLAIN))
    return pd.Series(starts & ~signed, index=values.index)


def _only(values: pd.Series, where: np.ndarray, test) -> np.ndarray:
    """`test` of the values `where` is true (False elsewhere); skipped when none is."""
    out = np.zeros(len(values), dtype=bool)
    if where.any():
        out[where] = np.asarray(test(values[where]), dtype=bool)
    return out


def _cell_checks(raw: pd.Series, cols: list[Column], owner: np.ndarray) -> pd.DataFrame:
    """What is wrong with each value, regardless of the row it is on.

    All columns at once: value i is of column `cols[owner[i]]`.
    """

    def of(kind) -> np.ndarray:  # which values are of a column of this kind
        return np.array([bool(kind(c)) for c in cols], dtype=bool)[owner]

    is_id, is_number = of(lambda c: c.id), of(lambda c: c.type == "number")
    is_datetime = of(lambda c: c.type == "datetime")
    values = raw.str.strip()
    out: dict[str, np.ndarray | pd.Series] = {}
    out["blank"] = blank = (values == "").to_numpy(bool)
    out["line_break"] = raw.str.contains(r"[\r\n]", regex=True).to_numpy(bool)
    out["mangled"] = _only(values, is_id, lambda v: v.str.fullmatch(_MANGLED_ID))
    # A signed number in a number column is a type error, not a formula; in any other
    # column a leading =, +, - or @ would be exported as it is, so it is a formula.
    numeric_like = _only(values, is_number, lambda v: v.str.fullmatch(r"[+-]?[0-9]+(?:\.[0-9]+)?"))
    out["formula"] = formula_cells(raw).to_numpy(bool) & ~numeric_like
    out["excel_error"] = is_excel_error(raw).to_numpy(bool)
    out["invisible"] = has_invisible(raw).to_numpy(bool)
    out["foreign_digits"] = _only(raw, is_number | is_id, non_ascii_digits)
    ok = ~blank & ~out["mangled"] & ~out["formula"] & ~out["excel_error"] & ~out["foreign_digits"]
    out["type"] = np.zeros(len(raw), dtype=bool)
    for decimals in sorted({c.decimals or 0 for c in cols if c.type == "number"}):
        pattern = r"[0-9]+" if decimals == 0 else rf"[0-9]+(?:\.[0-9]{{1,{decimals}}})?"
        these = ok & of(lambda c, d=decimals: c.type == "number" and (c.decimals or 0) == d)
        out["type"] |= _only(values, these, lambda v, p=pattern: ~v.str.fullmatch(p))
    stamps = np.full(len(raw), np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    for i, col in enumerate(cols):
        these = (owner == i) & ~blank
        if col.type == "datetime" and these.any():
            stamps[these] = parse_datetimes(values[these], col).to_numpy("datetime64[ns]")
    out["stamp"] = pd.Series(stamps, index=raw.index)
    out["datetime"] = datetime = ok & is_datetime & np.isnat(stamps)
    out["serial"] = _only(values, datetime, lambda v: v.str.fullmatch(_DATE_SERIAL))
    out["regional"] = (
        _only(values, datetime, lambda v: v.str.fullmatch(_DATE_REGIONAL)) & ~out["serial"]
    )
    out["bad_year"] = _only(values, datetime, _year_out_of_range)
    max_length = np.array([c.max_length or 0 for c in cols])[owner]
    out["too_long"] = (max_length > 0) & (raw.str.len().to_numpy() > max_length)
    out["not_allowed"] = np.zeros(len(raw), dtype=bool)
    for i, col in enumerate(cols):
        these = ok & (owner == i)
        if col.allowed and these.any():
            out["not_allowed"][these] = ~values[these].isin(col.allowed).to_numpy(bool)
    return pd.DataFrame(out, index=raw.index)


def _year_out_of_range(values: pd.Series) -> pd.Series:
    """Where a value starts with a year a timestamp cannot hold (0001-, 3026-)."""
    year = pd.to_numeric(values.str.extract(r"^([0-9]{4})-", expand=False), errors="coerce")
    return ((year < 1678) | (year > 2261)).fillna(False)


def _column_findings(
    table: pd.DataFrame,
    col: Column,
    raw: pd.Series,
    checks: pd.DataFrame,
    live: pd.Series,
    parsed: dict[str, pd.Series],
) -> list[pd.DataFrame]:
    filled = live & ~checks["blank"]
    out: list[pd.DataFrame] = []
    name = col.name

    def add(code: str, mask: pd.Series, message: str) -> None:
        if mask.any():
            out.append(finding_rows(code, table.index[mask], name, raw[mask], message))

    if col.required == "yes":
        add("required", live & checks["blank"], f"{name} is blank.")
    add("line-break", filled & checks["line_break"], f"{name} holds a line break.")
    out.extend(cell_findings(table.index, col, raw, filled, checks))
    add(
        "id-mangled",
        filled & checks["mangled"],
        f"{name} looks like a value Excel reformatted (a number, or its leading apostrophe).",
    )
    if col.id:
        out.extend(_short_ids(table, col, filled & ~checks["mangled"] & ~checks["formula"]))
    add("formula-prefix", filled & checks["formula"], f"{name} starts with =, +, - or @.")
    if col.type == "number":
        kind = (
            "a whole number"
            if not col.decimals
            else f"a number with at most {col.decimals} decimals"
        )
        add(
            "type", filled & checks["type"], f"{name} must be {kind} (no signs, spaces or letters)."
        )
    if col.type == "datetime":
        parsed[name] = checks["stamp"].where(live)
        forms = " or ".join(_human(f) for f in col.formats)
        bad = filled & checks["datetime"]
        if bad.any():
            why = pd.Series(f"{name} is not in the form {forms}.", index=table.index)
            why[checks["regional"].astype(bool)] = (
                f"{name} is in a regional form Excel writes (day and month may be swapped), "
                f"not {forms}."
            )
            why[checks["serial"].astype(bool)] = (
                f"{name} holds an Excel date serial number, not a date and time in the form "
                f"{forms}."
            )
            why[checks["bad_year"].astype(bool)] = (
                f"{name} has a year no billing month can have (a typo?), in the form {forms}."
            )
            out.append(finding_rows("datetime-format", table.index[bad], name, raw[bad], why[bad]))
    if col.max_length:
        add(
            "max-length",
            filled & checks["too_long"],
            f"{name} is longer than {col.max_length} characters.",
        )
    if col.allowed:
        add(
            "allowed-value",
            filled & checks["not_allowed"],
            f"{name} must be one of: {', '.join(col.allowed)}.",
        )
    return out


def _short_ids(table: pd.DataFrame, col: Column, filled: pd.Series) -> list[pd.DataFrame]:
    """IDs of digits shorter than the column's usual width: Excel dropped leading zeros?

    Only when most IDs of the column share one width (a warning: an agency may
    mix widths; checking against the original extract with --original is exact).
    """
    values = table[col.name].fillna("").astype(str).str.strip().where(filled, "")
    digits = values[values.str.fullmatch(r"[0-9]+")]
    if len(digits) < _ID_WIDTH_MIN_ROWS:
        return []
    widths = digits.str.len()
    usual = int(widths.mode().iloc[0])
    if (widths == usual).mean() < _ID_WIDTH_SHARE:
        return []
    short = widths[widths < usual].index
    if not len(short):
        return []
    return [
        finding_rows(
            "id-mangled",
            short,
            col.name,
            table.loc[short, col.name],
            f"{col.name} is shorter than the column's other IDs ({usual} digits): "
            "Excel may have dropped its leading zeros.",
            severity=WARNING,
        )
    ]


def _human(fmt: str) -> str:
    for d, h in (
        ("%Y", "YYYY"),
        ("%m", "MM"),
        ("%d", "DD"),
        ("%H", "HH"),
        ("%I", "HH"),
        ("%M", "MM"),
        ("%S", "SS"),
        ("%p", "AM/PM"),
    ):
        fmt = fmt.replace(d, h)
    return fmt


def _pair_findings(table: pd.DataFrame, layout: Layout, live: pd.Series) -> list[pd.DataFrame]:
    """Situational columns come in pairs: both filled or both blank."""
    out = []
    pairs: dict[str, list[Column]] = {}
    for c in layout.columns:
        if c.required == "situational" and c.pair and c.name in table.columns:
            pairs.setdefault(c.pair, []).append(c)
    for cols in pairs.values():
        blank = pd.DataFrame({c.name: table[c.name].fillna("").str.strip() == "" for c in cols})
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


def _time_findings(
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
            outside = stamps.notna() & (stamps.dt.to_period("M") != month)
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


def joined_per_member(values: pd.Series, member: pd.Series, sep: str) -> pd.Series:
    """Each row's value joined with its member's other rows' values, in row order.

    One join per member, spread back by a lookup: a ``transform`` with a Python function
    costs pandas' per-group overhead on every member (seconds at 10,000 members).
    """
    joined = values.groupby(member, sort=False).agg(sep.join)
    return member.map(joined)


def _duplicate_members(
    table: pd.DataFrame, layout: Layout, live: pd.Series, coded: dict[str, Distinct]
) -> list[pd.DataFrame]:
    col = layout.column("patient_number")
    if col is None or col.name not in table.columns:
        return []
    ids = member_key(coded.get(col.name, table[col.name])).where(live, "")
    dup = (ids != "") & ids.duplicated(keep=False)
    if not dup.any():
        return []
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


def _tier_findings(
    table: pd.DataFrame, layout: Layout, flags: pd.DataFrame, live: pd.Series
) -> list[pd.DataFrame]:
    out = []
    billed_col = layout.column("billed_hours")
    billed_name = billed_col.name if billed_col else "Billed Hours"
    has_hours = live & flags["billed_hours"].notna()

    below = has_hours & flags["below_minimum"]
    if below.any():
        out.append(
            finding_rows(
                "below-minimum-hours",
                table.index[below],
                billed_name,
                table.loc[below, billed_name],
                "Under the minimum billed hours for a PMPM: not billable this month.",
            )
        )

    auth_col = layout.column("authorized_hours")
    needs_auth = live & (flags["hours_basis"] == "authorized") & flags["basis_hours"].isna()
    if needs_auth.any():
        out.append(
            finding_rows(
                "required",
                table.index[needs_auth],
                auth_col.name if auth_col else "Authorized Hours",
                "",
                "This payer bills on authorized hours, but the row has none.",
            )
        )

    tier_col = layout.column("tier")
    if tier_col is not None and tier_col.name in table.columns:
        known = has_hours & flags["tier"].notna() & ~below
        raised = known & flags["tier_raised"].astype(bool)
        if raised.any():
            f = flags[raised]
            message = (
                "Billed "
                + f["billed_hours"].map("{:,.2f}".format)
                + " h is Tier "
                + f["tier"].astype(str)
                + "; the row bills Tier "
                + f["claim_tier"].astype(str)
                + ", which its "
                + f["unbilled_hours"].map("{:,.2f}".format)
                + " unbilled h reach once billed (+$"
                + f["dollar_effect"].abs().map("{:,.2f}".format)
                + ")."
            )
            out.append(
                finding_rows(
                    "tier-raised",
                    table.index[raised],
                    tier_col.name,
                    table.loc[raised, tier_col.name],
                    message,
                )
            )
        wrong = known & ~flags["tier_ok"] & ~raised
        if wrong.any():
            message = "The hours make it Tier " + flags.loc[wrong, "tier"].astype(str) + "."
            out.append(
                finding_rows(
                    "tier-mismatch",
                    table.index[wrong],
                    tier_col.name,
                    table.loc[wrong, tier_col.name],
                    message,
                )
            )

    code_col = layout.column("service_code")
    if code_col is not None and code_col.name in table.columns:
        known = has_hours & flags["tier"].notna() & ~below
        values = table[code_col.name].fillna("").str.strip()
        wrong = known & ~flags["service_code_ok"] & (values != "")
        if wrong.any():
            expected = flags.loc[wrong, "claim_service_code"].astype(str)
            skilled = flags.loc[wrong, "claim_skilled_service_code"].fillna("").astype(str)
            message = (
                "Tier "
                + flags.loc[wrong, "claim_tier"].astype(str)
                + " takes service code "
                + expected
                + np.where(skilled != "", " (or " + skilled + ")", "")
                + "."
            )
            out.append(
                finding_rows(
                    "service-code-mismatch",
                    table.index[wrong],
                    code_col.name,
                    table.loc[wrong, code_col.name],
                    message,
                )
            )
        out.extend(_discipline_findings(table, layout, flags, known & ~wrong))

    deferred = pd.Series(True, index=table.index)
    for role in ("visit_start", "visit_end"):
        c = layout.column(role)
        if c is None or c.name not in table.columns:
            deferred[:] = False
        else:
            deferred &= table[c.name].fillna("").str.strip() == ""
    # A deferred row is already handled; a raised one is the biller's decision (tier-raised).
    raised = flags["tier_raised"].astype(bool)
    risk = live & flags["at_risk"] & ~below & ~deferred & ~raised
    if risk.any():
        f = flags[risk]
        sign = np.where(f["dollar_effect"] >= 0, "+$", "-$")
        message = (
            "Billed "
            + f["billed_hours"].map("{:,.2f}".format)
            + " h is Tier "
            + f["tier"].astype(str).replace("<NA>", "none")
            + "; with "
            + f["unbilled_hours"].map("{:,.2f}".format)
            + " unbilled h it would be Tier "
            + f["tier_if_billed"].astype(str)
            + " ("
            + sign
            + f["dollar_effect"].abs().map("{:,.2f}".format)
            + ")."
        )
        out.append(
            finding_rows(
                "tier-at-risk",
                table.index[risk],
                billed_name,
                table.loc[risk, billed_name],
                message,
            )
        )
    return out


def _discipline_findings(
    table: pd.DataFrame, layout: Layout, flags: pd.DataFrame, rows: pd.Series
) -> list[pd.DataFrame]:
    """A PA row with the tier's skilled service code, or a skilled row with its PA code.

    Seed 001 sets each tier up with a PA service code and a Skilled one ("2443 for
    Tier 1, PA discipline"; "2443 Skilled for Tier 1, Other (Skilled) discipline").
    Which discipline values are skilled is the layout's (`skilled`); the codes are
    the rate book's. `rows`: rows whose code is one of the tier's two.
    """
    disc, code = layout.column("discipline"), layout.column("service_code")
    if disc is None or code is None or disc.name not in table.columns or not disc.skilled:
        return []
    discipline = table[disc.name].fillna("").str.strip()
    values = table[code.name].fillna("").str.strip()
    pa_code = flags["claim_service_code"].astype("string").fillna("")
    skilled_code = flags["claim_skilled_service_code"].astype("string").fillna("")
    skilled = discipline.isin(disc.skilled)
    known = discipline.isin(disc.allowed) if disc.allowed else discipline != ""
    pa_with_skilled = ~skilled & (values == skilled_code) & (values != pa_code)
    skilled_with_pa = skilled & (values == pa_code) & (values != skilled_code)
    wrong = (rows & known & (pa_with_skilled | skilled_with_pa)).fillna(False).astype(bool)
    if not wrong.any():
        return []
    expected = skilled_code.where(skilled, pa_code)[wrong]
    message = (
        disc.name
        + " "
        + discipline[wrong]
        + " takes the Tier "
        + flags.loc[wrong, "claim_tier"].astype(str)
        + " service code "
        + expected.astype(str)
        + ", not "
        + values[wrong]
        + "."
    )
    return [
        finding_rows(
            "discipline-code-mismatch",
            table.index[wrong],
            code.name,
            table.loc[wrong, code.name],
            message,
        )
    ]


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
    table: pd.DataFrame, layout: Layout, book: RateBook, live: pd.Series, month: pd.Period
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
    contracts = table.loc[live, col.name].fillna("").str.strip()
    contracts = contracts[contracts != ""]
    if contracts.empty:
        return []
    out = []
    fits = {c: book.match_contract(c) for c in contracts.unique()}  # once per contract
    unknown = contracts[~contracts.isin([c for c, payer in fits.items() if payer is not None])]
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
    auto = [c for c in fits if book.is_auto_billed(c)]
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


def validate_table(
    table: pd.DataFrame,
    layout: Layout,
    book: RateBook,
    *,
    month: pd.Period | str | None = None,
    as_of: date | None = None,
    original: pd.DataFrame | None = None,
    flags: pd.DataFrame | None = None,
    source: str = "",
    read_findings: pd.DataFrame | None = None,
) -> tuple[ValidationReport, pd.DataFrame]:
    """Validate a tier-report table; returns the report and the rows' tier flags."""
    parts: list[pd.DataFrame] = [] if read_findings is None else [read_findings]
    if table.empty:
        parts.append(file_finding("no-rows", "The file holds a header but no member rows."))
    # Each column factorized once for the row checks and the cell checks.
    coded = (
        {name: distinct_values(table[name]) for name in table.columns}
        if table.columns.is_unique
        else {}
    )
    blank = blank_rows(table, coded)
    if blank.any():
        parts.append(finding_rows("blank-row", table.index[blank], None, "", "The row is blank."))
    header = repeated_header_rows(table, coded) & ~blank
    if header.any():
        parts.append(
            finding_rows(
                "repeated-header",
                table.index[header],
                None,
                "",
                "The line repeats the header (two files pasted together?).",
            )
        )
    totals = totals_rows(table, layout, coded) & ~blank & ~header
    if totals.any():
        parts.append(
            finding_rows(
                "totals-row",
                table.index[totals],
                None,
                "",
                "The line is a totals line, not a member.",
            )
        )
    live = ~(blank | header | totals)  # lines that are not member rows get no cell findings

    parsed: dict[str, pd.Series] = {}
    cols = [col for col in layout.columns if col.name in table.columns]
    raws = [table[col.name].fillna("").astype(str) for col in cols]
    distinct = [coded.get(col.name, raw) for col, raw in zip(cols, raws, strict=True)]
    every_check = per_value_columns(distinct, lambda u, owner: _cell_checks(u, cols, owner))
    parts.extend(  # a generator: its loop names go with it (a table of no layout column too)
        found
        for col, raw, checks in zip(cols, raws, every_check, strict=True)
        for found in _column_findings(table, col, raw, checks, live, parsed)
    )
    # The member key from the IDs factorized above; then the factorized columns go (their
    # codes and distinct values are a large table's biggest scratch).
    duplicates = _duplicate_members(table, layout, live, coded)
    del coded, distinct, every_check, raws
    parts.extend(_pair_findings(table, layout, live))
    if live.any():
        parts.extend(skipped_checks(table, layout))

    if month is None:
        found, count = billing_month(table if live.all() else table[live], layout)
        if found is None:
            if live.any():
                parts.append(file_finding("no-month", "No schedule start date could be read."))
        elif count > 1:
            parts.append(
                file_finding(
                    "mixed-months",
                    f"The schedule dates span {count} months; {found} is taken as "
                    "the billing month.",
                    value=str(found),
                )
            )
        period = found
    else:
        period = pd.Period(month, freq="M")
    parts.extend(_time_findings(table, layout, parsed, period))
    parts.extend(duplicates)
    parts.extend(tier_not_a_label(table, layout, book, live))
    if period is not None:
        if flags is None:
            try:
                flags = flag_tier_risk(table, layout, book, period.to_timestamp())
            except PmpmInputError as missing:  # no rate in force for a payer and month
                parts.append(file_finding("no-rate", missing.message, value=str(period)))
        if flags is not None:
            parts.extend(_tier_findings(table, layout, flags, live))
        parts.extend(payer_findings(table, layout, book, live, period))
        parts.extend(hours_implausible(table, layout, live, period))
        if as_of is not None:
            present = sorted(flags.loc[live, "payer"].unique()) if flags is not None else None
            parts.extend(check_submission_window(period, as_of, book, present or None))
    if original is not None:
        parts.append(check_locked_fields(original, table, layout))
    findings = without_tier_noise(combine(parts))
    # An ID the reader already proved mangled (a number in a workbook) is not also
    # reported as merely suspicious.
    mangled = findings["code"] == "id-mangled"
    if mangled.any():
        twice = findings[mangled].duplicated(["row", "field"], keep="first")
        findings = findings.drop(index=twice[twice].index).reset_index(drop=True)
    report = ValidationReport(
        findings=findings,
        rows=int(live.sum()),
        source=source,
        month=None if period is None else str(period),
        as_of=None if as_of is None else as_of.isoformat(),
    )
    return report, flags if flags is not None else pd.DataFrame(index=table.index)


def validate_report(
    report: TierReport,
    layout: Layout,
    book: RateBook,
    *,
    month: pd.Period | str | None = None,
    as_of: date | None = None,
    original: pd.DataFrame | None = None,
) -> tuple[ValidationReport, pd.DataFrame]:
    """Validate a tier report as read from a file (reading findings included)."""
    if not report.readable:
        result = ValidationReport(
            report.findings,
            0,
            report.source,
            None if month is None else str(month),
            None if as_of is None else as_of.isoformat(),
        )
        return result, pd.DataFrame(index=report.table.index)
    return validate_table(
        report.table,
        layout,
        book,
        month=month,
        as_of=as_of,
        original=original if original is not None else report.original,
        source=report.source,
        read_findings=report.findings,
    )
