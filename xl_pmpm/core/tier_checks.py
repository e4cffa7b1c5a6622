"""Checks of each row against its tier flags: minimum hours, the hours basis, the tier,
the service and discipline codes, and the tier at risk.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from xl_pmpm.core.findings import finding_rows
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.values import Distinct, column_values, distinct_values


def _money(values: pd.Series) -> pd.Series:
    """`values` (float) written 1,234.50, each distinct number formatted once (told apart
    by their bits: -0.0 is written -0.00)."""
    bits = np.ascontiguousarray(values.to_numpy(dtype="float64")).view(np.int64)
    codes, uniques = pd.factorize(bits)
    distinct = pd.Series(uniques.view(np.float64)).map("{:,.2f}".format)
    return distinct.take(codes).set_axis(values.index)


def _stripped(table: pd.DataFrame, name: str, coded: Mapping[str, Distinct] | None) -> pd.Series:
    """A column's text stripped, each distinct value stripped once."""
    return column_values(table, name, lambda u: u.str.strip(), coded)


def tier_findings(
    table: pd.DataFrame,
    layout: Layout,
    flags: pd.DataFrame,
    live: pd.Series,
    coded: Mapping[str, Distinct] | None = None,
) -> list[pd.DataFrame]:
    """`coded`: the table's columns already factorized (validation's), by name."""
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
                + _money(f["billed_hours"])
                + " h is Tier "
                + f["tier"].astype(str)
                + "; the row bills Tier "
                + f["claim_tier"].astype(str)
                + ", which its "
                + _money(f["unbilled_hours"])
                + " unbilled h reach once billed (+$"
                + _money(f["dollar_effect"].abs())
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
        filled = column_values(table, code_col.name, lambda u: u.str.strip() != "", coded)
        wrong = known & ~flags["service_code_ok"] & filled
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
        out.extend(_discipline_findings(table, layout, flags, known & ~wrong, coded))

    deferred = pd.Series(True, index=table.index)
    for role in ("visit_start", "visit_end"):
        c = layout.column(role)
        if c is None or c.name not in table.columns:
            deferred[:] = False
        else:
            deferred &= column_values(table, c.name, lambda u: u.str.strip() == "", coded)
    # A deferred row is already handled; a raised one is the biller's decision (tier-raised).
    raised = flags["tier_raised"].astype(bool)
    risk = live & flags["at_risk"] & ~below & ~deferred & ~raised
    if risk.any():
        f = flags[risk]
        sign = np.where(f["dollar_effect"] >= 0, "+$", "-$")
        message = (
            "Billed "
            + _money(f["billed_hours"])
            + " h is Tier "
            + f["tier"].astype(str).replace("<NA>", "none")
            + "; with "
            + _money(f["unbilled_hours"])
            + " unbilled h it would be Tier "
            + f["tier_if_billed"].astype(str)
            + " ("
            + sign
            + _money(f["dollar_effect"].abs())
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


def _same_codes(
    table: pd.DataFrame,
    name: str,
    coded: Mapping[str, Distinct] | None,
    others: list[pd.Series],
) -> list[np.ndarray]:
    """Per row, whether the column's value (stripped) equals each of `others` (text per row,
    none missing): each distinct value compared with each distinct other once."""
    column = coded.get(name) if coded else None
    column = column if column is not None else distinct_values(table[name])
    mine = column.uniques.str.strip().to_numpy(object)
    out = []
    for other in others:
        codes, theirs = pd.factorize(other)
        same = mine[:, None] == np.asarray(theirs, dtype=object)[None, :]
        out.append(same.reshape(len(mine), len(theirs))[column.codes, codes])
    return out


def _discipline_findings(
    table: pd.DataFrame,
    layout: Layout,
    flags: pd.DataFrame,
    rows: pd.Series,
    coded: Mapping[str, Distinct] | None,
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
    pa_code = flags["claim_service_code"].astype("string").fillna("")
    skilled_code = flags["claim_skilled_service_code"].astype("string").fillna("")
    skilled = column_values(table, disc.name, lambda u: u.str.strip().isin(disc.skilled), coded)
    if disc.allowed:
        known = column_values(table, disc.name, lambda u: u.str.strip().isin(disc.allowed), coded)
    else:
        known = column_values(table, disc.name, lambda u: u.str.strip() != "", coded)
    # The row's code against its claim's two codes: each distinct code against each distinct
    # claim code once, looked up per row.
    is_pa, is_skilled = _same_codes(table, code.name, coded, [pa_code, skilled_code])
    pa_with_skilled = ~skilled & is_skilled & ~is_pa
    skilled_with_pa = skilled & is_pa & ~is_skilled
    wrong = (rows & known & (pa_with_skilled | skilled_with_pa)).fillna(False).astype(bool)
    if not wrong.any():
        return []
    discipline = _stripped(table, disc.name, coded)
    values = _stripped(table, code.name, coded)
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
