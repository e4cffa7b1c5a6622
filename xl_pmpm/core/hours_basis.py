"""Which hours a payer's tier counts (its `hours_basis` in the payer settings): one table.

Every rule that tiers a member-month asks `basis_hours` (flags, visits, unbilled PMPM,
review), and the workbook's Excel formula is generated from the same `BASES`
(`workbook/formulas.py`), so a basis is declared once: adding one is one `HoursBasis`
row here (its hours now and once the unbilled hours are billed, as sums of the hour
kinds) and its payers naming it in `payers.csv`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

# The hours a tier report gives per row: kind -> the layout role of its column.
HOUR_KINDS = {
    "billed": "billed_hours",
    "unbilled": "unbilled_hours",
    "authorized": "authorized_hours",
}
# Kinds whose blank (or missing column) counts as 0 hours; a blank of any other kind
# leaves the row without basis hours (no tier).
BLANK_IS_ZERO = frozenset({"unbilled"})


@dataclass(frozen=True)
class HoursBasis:
    """A basis: the hour kinds (`HOUR_KINDS`) summed for the tier now, and once billed."""

    name: str
    now: tuple[str, ...]
    once_billed: tuple[str, ...]
    note: str


# The first is the default (a payer that names none). Sources: pmpm-facts, section 1.
BASES = (
    HoursBasis(
        "utilized",
        now=("billed",),
        once_billed=("billed", "unbilled"),
        note="billed hours (HHAeXchange, most MLTC plans); the unbilled ones move the tier",
    ),
    HoursBasis(
        "authorized",
        now=("authorized",),
        once_billed=("authorized",),
        note="authorized hours (DOH's letter); billing visits does not move the tier",
    ),
)
DEFAULT_BASIS = BASES[0].name


def basis_names() -> tuple[str, ...]:
    """The names a payers file may give as `hours_basis`."""
    return tuple(b.name for b in BASES)


def kinds_of(basis: HoursBasis, *, once_billed: bool = False) -> tuple[str, ...]:
    """The hour kinds `basis` adds up, now or once the unbilled hours are billed."""
    return basis.once_billed if once_billed else basis.now


def basis_hours(
    bases: pd.Series,
    hours: Mapping[str, pd.Series] | pd.DataFrame,
    *,
    once_billed: bool = False,
) -> pd.Series:
    """Each row's hours on its basis (`bases`: a basis name per row, as `RateBook.hours_basis`
    gives), from the hour kinds given in `hours` (kind -> float Series on `bases`' index,
    or a frame with those columns).

    A kind not given reads as a blank column: 0 for `BLANK_IS_ZERO` kinds, otherwise the
    row has no basis hours (NaN, no tier). `once_billed`: the hours once the row's
    unbilled hours are billed (the tier the row would reach).
    """

    def total(basis: HoursBasis) -> pd.Series:
        out = pd.Series(0.0, index=bases.index, dtype="float64")
        for kind in kinds_of(basis, once_billed=once_billed):
            given = hours.get(kind)
            if given is None:
                given = pd.Series(np.nan, index=bases.index, dtype="float64")
            out = out + (given.fillna(0.0) if kind in BLANK_IS_ZERO else given)
        return out

    default, *others = BASES
    result = total(default)
    for basis in others:
        chosen = (bases == basis.name).to_numpy()
        if chosen.any():
            result = result.where(~chosen, total(basis))
    return result
