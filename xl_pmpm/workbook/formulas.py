"""Excel formulas of the workbook: the engine columns' tier rule and the rate lookups.

Generated from the same rate book the engine uses (`resolved_tiers`), so a workbook
without Python tiers and prices each row as xl_pmpm.core.flags.flag_tier_risk does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from xl_pmpm.core import hours_basis
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.hours_basis import BLANK_IS_ZERO, HOUR_KINDS, kinds_of
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import DEFAULT_PAYER, RateBook
from xl_pmpm.core.vocabulary import (
    AT_RISK_MARK,
    CONTRACTS_TABLE,
    ENGINE_HEADERS,
    TIERS_TABLE,
)
from xl_pmpm.workbook.sheets import TIER_COLUMNS, shown

BLANK = '""'  # an Excel expression for a cell the table lacks


def escape(column: str) -> str:
    """A column name as written inside a structured reference ([, ], # and ' need a ')."""
    return re.sub(r"([\[\]#'])", r"'\1", column)


def this_row(table: str, column: str) -> str:
    return f"{table}[[#This Row],[{escape(column)}]]"


def column_of(table: str, field: str) -> str:
    """A Rates-sheet table's column `field`, by the header it shows (`sheets.shown`)."""
    return f"{table}[{escape(shown(field))}]"


# --------------------------------------------------------------------------- formulas


def _in_force() -> str:
    start, end = column_of(TIERS_TABLE, "effective_from"), column_of(TIERS_TABLE, "effective_to")
    return f'*({start}<=BillingMonth)*((({end}="")+({end}>=BillingMonth))>0)'


def resolved_tiers(rate_book: RateBook) -> pd.DataFrame:
    """Each payer's tier table over time, as the engine resolves it (`RateBook.tier_table`).

    One row per (payer, period, tier): the periods run between the rate book's effective
    dates, and a payer's own rows override the default payer's tier by tier, exactly as
    the engine does, so a formula only has to match the row's payer and month. Every
    payer of the payers table (and the default) gets its rows, with its hours basis.
    """
    rates = rate_book.rates
    starts = set(rates["effective_from"].dropna())
    starts |= {d + pd.Timedelta(days=1) for d in rates["effective_to"].dropna()}
    bounds = sorted(pd.Timestamp(d) for d in starts)
    payers = list(dict.fromkeys([DEFAULT_PAYER, *rate_book.payers["payer"], *rates["payer"]]))
    basis = dict(zip(payers, rate_book.hours_basis(pd.Series(payers, dtype=object)), strict=True))
    out = []
    for i, start in enumerate(bounds):
        end = bounds[i + 1] - pd.Timedelta(days=1) if i + 1 < len(bounds) else pd.NaT
        for payer in payers:
            try:
                table = rate_book.tier_table(payer, start)
            except PmpmInputError:  # no rate in force then
                continue
            block = table.reindex(columns=TIER_COLUMNS[2:7])
            block.insert(0, "hours_basis", basis[payer])
            block.insert(0, "payer", payer)
            block["effective_from"], block["effective_to"] = start, end
            out.append(block)
    return pd.concat(out, ignore_index=True).reindex(columns=TIER_COLUMNS)


def _payer_of_row(contract: str) -> str:
    """The row's payer: its contract looked up in the Contracts table (else the default)."""
    return (
        f"IFERROR(INDEX({column_of(CONTRACTS_TABLE, 'payer')},MATCH(TRIM({contract}),"
        f'{column_of(CONTRACTS_TABLE, "contract")},0)),"{DEFAULT_PAYER}")'
    )


def _tier_lookup(field: str, hours: str, payer: str) -> str:
    """SUMPRODUCT over the Tiers table's rows of `payer` in force in BillingMonth.

    Tiers do not overlap (rates.py checks), so at most one row matches.
    """
    t = {f: column_of(TIERS_TABLE, f) for f in (field, "payer", "min_hours", "max_hours")}
    return (
        f"SUMPRODUCT({t[field]}*({t['payer']}={payer})*({t['min_hours']}<={hours})"
        f'*((({t["max_hours"]}="")+({t["max_hours"]}>{hours}))>0)' + _in_force() + ")"
    )


def tier_rate(tier: int, payer: str = f'"{DEFAULT_PAYER}"') -> str:
    """`payer`'s rate of `tier` in BillingMonth, from the Tiers table."""
    rate, payers, tiers = (column_of(TIERS_TABLE, f) for f in ("rate", "payer", "tier"))
    return f"SUMPRODUCT({rate}*({payers}={payer})*({tiers}={tier})" + _in_force() + ")"


def basis_formulas(
    payer: str, cells: dict[str, str | None], *, once_billed: bool = False
) -> tuple[str, str]:
    """The row's hours on its payer's basis and whether it has them, as two Excel
    expressions generated from `core.hours_basis.BASES` (the rule of `basis_hours`).

    `payer`: the row's payer (an expression); `cells`: hour kind -> the row's cell (None
    where the table lacks the column: blank). A kind's blank cell counts 0 where
    `BLANK_IS_ZERO` says so; a blank of any other kind leaves the row without hours.
    The payer's basis is looked up in the Tiers table; a payer not there gets the
    default basis.
    """
    basis = (
        f"IFERROR(INDEX({column_of(TIERS_TABLE, 'hours_basis')},"
        f'MATCH({payer},{column_of(TIERS_TABLE, "payer")},0)),"")'
    )

    def hours(kinds: tuple[str, ...]) -> str:
        terms = [f"N({cells.get(k) or BLANK})" for k in kinds]
        return terms[0] if len(terms) == 1 else "(" + "+".join(terms) + ")"

    def known(kinds: tuple[str, ...]) -> str:
        needed = [f"ISNUMBER({cells.get(k) or BLANK})" for k in kinds if k not in BLANK_IS_ZERO]
        if not needed:
            return "TRUE"
        return needed[0] if len(needed) == 1 else f"AND({','.join(needed)})"

    default, *others = hours_basis.BASES
    value = hours(kinds_of(default, once_billed=once_billed))
    has = known(kinds_of(default, once_billed=once_billed))
    for b in reversed(others):
        kinds = kinds_of(b, once_billed=once_billed)
        value = f'IF({basis}="{b.name}",{hours(kinds)},{value})'
        has = f'IF({basis}="{b.name}",{known(kinds)},{has})'
    return value, has


def engine_formulas(
    layout: Layout, table: str, columns: Sequence[str] | None = None
) -> dict[str, str]:
    """{engine column: formula} for one row of Tier Report table `table` (no Python needed).

    The row's payer comes from its contract (the Contracts table, written from the rate
    book's payers at the fill and at Load Extract), its hours from the payer's hours
    basis, its tier and rate from the payer's rows in force in the billing month (the
    Tiers table, `resolved_tiers`): the rule of xl_pmpm.core.flags.flag_tier_risk.

    `columns`: the layout columns the table holds (default: the layout's sheet columns).
    A structured reference to a column the table lacks is a broken formula in Excel, so a
    missing column reads as blank, as the engine reads a missing column: no billed hours,
    no tier; no contract, the default payer.
    """
    present = {c.name for c in layout.sheet_columns} if columns is None else set(columns)

    def cell(role: str) -> str | None:
        column = layout.column(role)
        return this_row(table, column.name) if column and column.name in present else None

    payer = _payer_of_row(cell("contract") or '""')
    cells = {kind: cell(role) for kind, role in HOUR_KINDS.items()}
    now, known_now = basis_formulas(payer, cells)
    after, known_after = basis_formulas(payer, cells, once_billed=True)
    tier = this_row(table, ENGINE_HEADERS["tier"])
    tier_if_billed = this_row(table, ENGINE_HEADERS["tier_if_billed"])
    at_risk = this_row(table, ENGINE_HEADERS["at_risk"])

    def tier_of(hours: str, known: str) -> str:
        lookup = _tier_lookup("tier", hours, payer)
        return f'=IF({known},IF({lookup}=0,"",{lookup}),"")'

    return {
        ENGINE_HEADERS["tier"]: tier_of(now, known_now),
        ENGINE_HEADERS["tier_if_billed"]: tier_of(after, known_after),
        ENGINE_HEADERS["at_risk"]: (
            f'=IF(AND({tier_if_billed}<>"",N({tier_if_billed})<>N({tier})),"{AT_RISK_MARK}","")'
        ),
        ENGINE_HEADERS["dollar_effect"]: (
            f'=IF({at_risk}="{AT_RISK_MARK}",ROUND('
            f"{_tier_lookup('rate', after, payer)}-{_tier_lookup('rate', now, payer)},2),0)"
        ),
    }
