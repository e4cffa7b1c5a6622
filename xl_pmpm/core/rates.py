"""Rates, tiers and payers as data: effective-dated, per payer, vectorized over columns."""

from __future__ import annotations

import fnmatch
import io
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xl_pmpm.core.cells import fail_at_first, parse_numbers, parse_whole_numbers, unreadable_csv
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.hours_basis import DEFAULT_BASIS, basis_names
from xl_pmpm.core.values import map_distinct

DEFAULT_PAYER = "*"
CLAIM_DATES = ("month", "first_day")

RATE_COLUMNS = [
    "payer",
    "tier",
    "min_hours",
    "max_hours",
    "rate_code",
    "service_code",
    "skilled_service_code",
    "revenue_code",
    "rate",
    "effective_from",
    "effective_to",
]
PAYER_COLUMNS = ["payer", "contracts", "hours_basis", "claim_dates"]
# Payer settings a payers file may leave out, and the value a payer then gets.
#   submission_days  days after the service month's last day a claim may still be
#                    submitted (seed 001: "no later than 90 days")
#   late             what a claim past that window is: a warning, or an error
#   own_codes        yes = the payer is known to want its own procedure and revenue
#                    codes (seed 000: "critical" for Anthem and Elderplan)
#   pmpm_contract    the payer's contract for JUST the PMPM claims (seed 001: "PMPM
#                    visits are then created under this contract and not the direct
#                    labor contract"): a member-month's PMPM row goes on it; blank = none
#   auto_billed      patterns (;-separated, like `contracts`) of the payer's contracts
#                    whose PMPM HHAeXchange bills itself (seed 001, "Internal Contracts
#                    Prior to August 1, 2024": Additional Bill Info creates the PMPM visit
#                    every night); `*` = all of the payer's contracts; blank = none
#   remittance_days  days after a PMPM's export without an 835 claim before `xl-pmpm paid`
#                    calls it no-remittance (NY prompt pay: 30 days for an electronic
#                    claim, Insurance Law 3224-a; 45 leaves the import and submission time)
PAYER_OPTIONAL = {
    "submission_days": "90",
    "late": "warning",
    "own_codes": "no",
    "pmpm_contract": "",
    "auto_billed": "",
    "remittance_days": "45",
}
LATE = ("warning", "error")
YES_NO = ("yes", "no")
# A name or contract compared loosely: case, spaces and punctuation aside.
_NOT_NAME = re.compile(r"[^0-9a-z*?]+")
# Shortest payer name looked for inside a contract name (shorter ones match by chance).
_MIN_NAME_IN_CONTRACT = 4


def _fits(text: str, patterns: list[str]) -> bool:
    return any(p and fnmatch.fnmatchcase(text, loose_name(p)) for p in patterns)


def loose_name(text: object) -> str:
    """`text` for matching payers and contracts: casefolded, only letters, digits, * and ?."""
    return _NOT_NAME.sub("", str(text).casefold())


TIER_FIELDS = ["tier", "rate_code", "service_code", "skilled_service_code", "revenue_code", "rate"]


@dataclass(frozen=True)
class RateBook:
    """The rate table and the payer settings, checked and typed."""

    rates: pd.DataFrame
    payers: pd.DataFrame
    source: str = "bundled rates"
    payers_source: str = "payers.csv"
    # tier_table's answers: asked for per payer several times by each validation
    _tiers: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def payer_settings(self, payer: str) -> pd.Series:
        """The settings row of `payer` (matched loosely), else the default row."""
        names = self.payers["payer"].tolist()
        wanted = self.resolve_payer(payer)
        # a payer with rate rows but no settings of its own: the default row
        return self.payers.iloc[names.index(wanted if wanted in names else DEFAULT_PAYER)]

    def payer_named(self, name: str) -> str | None:
        """The payer `name` means, ignoring case, spaces and punctuation; None if none.

        "elderplan", "Elder Plan" and "ELDERPLAN" all name Elderplan.
        """
        if str(name).strip() == DEFAULT_PAYER:
            return DEFAULT_PAYER
        want = loose_name(name)
        # Payers of the settings first, then payers with rate rows only.
        for payer in dict.fromkeys([*self.payers["payer"], *self.rates["payer"].unique()]):
            if payer != DEFAULT_PAYER and loose_name(payer) == want:
                return str(payer)
        return None

    def resolve_payer(self, name: str) -> str:
        """`payer_named`, or the default payer where no payer has that name."""
        return self.payer_named(name) or DEFAULT_PAYER

    def payer_for_contracts(self, contracts: pd.Series) -> pd.Series:
        """The payer of each contract (see `payer_of_contract`)."""
        return map_distinct(contracts.fillna("").astype(str), self.payer_of_contract)

    def payer_of_contract(self, contract: str) -> str:
        """The payer of `contract` (see `match_contract`); the default payer where none fits."""
        return self.match_contract(contract) or DEFAULT_PAYER

    def match_contract(self, contract: str) -> str | None:
        """The payer whose contract pattern, or failing that whose name, fits `contract`.

        Case, spaces and punctuation are ignored on both sides, so "Linked - Elderplan
        CDPAP" is Elderplan's even under the pattern "Elderplan*". The default payer's
        own patterns (contracts known to take the defaults) are tried last. None where
        nothing fits (the default payer applies, unknowingly: `payer-unknown`).
        """
        text = loose_name(contract)
        if not text:
            return None
        named = list(zip(self.payers["payer"], self.payers["contracts"], strict=True))
        for payer, patterns in named:
            if payer != DEFAULT_PAYER and _fits(text, patterns):
                return str(payer)
        for payer, _ in named:
            name = loose_name(payer)
            if payer != DEFAULT_PAYER and len(name) >= _MIN_NAME_IN_CONTRACT and name in text:
                return str(payer)
        for payer, patterns in named:
            if payer == DEFAULT_PAYER and _fits(text, patterns):
                return DEFAULT_PAYER
        return None

    def has_own_rates(self, payer: str, month: pd.Timestamp) -> bool:
        """Whether `payer` has rate-table rows of its own in force in `month`."""
        day = pd.Timestamp(month).to_period("M").to_timestamp()
        own = self.rates[
            (self.rates["payer"] == payer)
            & (self.rates["effective_from"] <= day)
            & (self.rates["effective_to"].isna() | (self.rates["effective_to"] >= day))
        ]
        return not own.empty

    def pmpm_contracts(self, payers: pd.Series) -> pd.Series:
        """The PMPM-only contract each payer names (`pmpm_contract`), '' where none."""
        named = dict(zip(self.payers["payer"], self.payers["pmpm_contract"], strict=True))
        return map_distinct(payers, lambda p: named.get(p, "")).astype(str)

    def is_auto_billed(self, contract: str) -> bool:
        """Whether HHAeXchange bills `contract`'s PMPM itself (its payer's `auto_billed`)."""
        text = loose_name(contract)
        if not text:
            return False
        payer = self.payer_of_contract(contract)
        # The first settings row of the payer (a lookup, not a pandas filter per contract).
        for name, patterns in zip(self.payers["payer"], self.payers["auto_billed"], strict=True):
            if name == payer:
                return _fits(text, patterns)
        return False

    def auto_billed(self, contracts: pd.Series) -> pd.Series:
        """`is_auto_billed` of each contract (bool), asked once per distinct contract."""
        if not any(len(p) for p in self.payers["auto_billed"]):
            return pd.Series(False, index=contracts.index, dtype=bool)
        found = map_distinct(contracts.fillna("").astype(str), self.is_auto_billed)
        return found.astype(bool)

    def hours_basis(self, payers: pd.Series) -> pd.Series:
        """Each payer's hours basis (`core.hours_basis`), the default payer's where it has none."""
        basis = dict(zip(self.payers["payer"], self.payers["hours_basis"], strict=True))
        default = basis.get(DEFAULT_PAYER, DEFAULT_BASIS)
        return map_distinct(payers, lambda p: basis.get(p, default))

    def submission_days(self, payers: pd.Series) -> pd.Series:
        """Days each payer allows after the month's last day to submit its PMPM (int)."""
        days = dict(zip(self.payers["payer"], self.payers["submission_days"], strict=True))
        default = days.get(DEFAULT_PAYER, int(PAYER_OPTIONAL["submission_days"]))
        return map_distinct(payers, lambda p: days.get(p, default)).astype("int64")

    def remittance_days(self, payers: pd.Series) -> pd.Series:
        """Days each payer has to send the 835 for an exported PMPM (int)."""
        days = dict(zip(self.payers["payer"], self.payers["remittance_days"], strict=True))
        default = days.get(DEFAULT_PAYER, int(PAYER_OPTIONAL["remittance_days"]))
        return map_distinct(payers, lambda p: days.get(p, default)).astype("int64")

    def tier_table(self, payer: str, month: pd.Timestamp) -> pd.DataFrame:
        """The tiers in force for `payer` on the first day of `month`, lowest first.

        A payer's own rows override the default rows tier by tier.
        """
        day = pd.Timestamp(month).to_period("M").to_timestamp()
        if (payer, day) not in self._tiers:
            self._tiers[payer, day] = self._tiers_in_force(payer, day)
        return self._tiers[payer, day].copy(deep=False)  # copy-on-write: the kept one is safe

    def _tiers_in_force(self, payer: str, day: pd.Timestamp) -> pd.DataFrame:
        live = self.rates[
            (self.rates["effective_from"] <= day)
            & (self.rates["effective_to"].isna() | (self.rates["effective_to"] >= day))
        ]
        own = live[live["payer"] == payer]
        base = live[(live["payer"] == DEFAULT_PAYER) & ~live["tier"].isin(own["tier"])]
        table = pd.concat([own, base]).sort_values("min_hours").reset_index(drop=True)
        if table.empty:
            raise PmpmInputError(
                f"No rate is in force for payer '{payer}' in {day:%Y-%m}.",
                file=self.source,
                fix="Add rows to the rate table whose effective dates cover that month.",
            )
        return table

    def assign(
        self,
        hours: pd.Series,
        payers: pd.Series | str = DEFAULT_PAYER,
        month: pd.Timestamp | str | None = None,
    ) -> pd.DataFrame:
        """Tier, rate code, service codes and rate for each value of `hours`.

        Rows under the lowest tier's minimum (or not a number) get no tier (<NA>).
        Vectorized per row; loops only over the distinct payers.
        """
        hours = pd.to_numeric(pd.Series(hours), errors="coerce").astype("float64")
        if isinstance(payers, str):
            payers = pd.Series(payers, index=hours.index)
        # Each payer's rows by its code: one factorizing, not a text compare per payer.
        codes, uniques = pd.factorize(payers.to_numpy(), use_na_sentinel=False)
        chosen, tiers = self.tier_rows(hours.to_numpy(), codes, list(uniques), month)
        columns = {f: tiers[f].take(chosen, allow_fill=True) for f in TIER_FIELDS}
        return pd.DataFrame(columns, index=hours.index)  # -1 above: no tier, missing

    def tier_rows(
        self,
        hours: np.ndarray,
        payer_codes: np.ndarray,
        payers: list,
        month: pd.Timestamp | str | None = None,
    ) -> tuple[np.ndarray, dict[str, pd.api.extensions.ExtensionArray]]:
        """`assign` as positions: for each value of `hours` (float; its payer
        `payers[payer_codes[i]]`), the row of the payers' tier tables stacked whose tier it
        falls in (-1: none), and those stacked tables' `TIER_FIELDS`, typed (tier Int64,
        rate float64, codes string). A caller takes from them only the fields it needs.
        """
        month = pd.Timestamp(month) if month is not None else pd.Timestamp.today()
        values = np.asarray(hours, dtype="float64")
        tables = [self.tier_table(payer, month) for payer in payers]
        # Each payer's tier bounds as one row of a small grid (NaN past its last tier; no
        # payer's row all NaN), so every row is placed by a few whole-column compares:
        # its tier is the last whose lower bound its hours reach (the tables are sorted by
        # it), if they stay under that tier's upper bound.
        width = max((len(t) for t in tables), default=0)
        lows = np.full((len(payers), width), np.nan)
        highs = np.full((len(payers), width), np.nan)
        offsets = np.zeros(len(payers), dtype=np.int64)
        offset = 0
        for k, (payer, table) in enumerate(zip(payers, tables, strict=True)):
            if payer == payer:  # (no payer: NaN, its row stays empty)
                lows[k, : len(table)] = table["min_hours"].to_numpy(dtype="float64")
                highs[k, : len(table)] = table["max_hours"].to_numpy(dtype="float64")
            offsets[k] = offset
            offset += len(table)
        row = np.asarray(payer_codes, dtype=np.int64)
        reached = np.zeros(len(values), dtype=np.int64)
        for j in range(width):
            reached += lows[row, j] <= values  # NaN bounds and NaN hours reach nothing
        pos = np.maximum(reached - 1, 0)
        inside = (reached > 0) & (values < highs[row, pos])
        chosen = np.where(inside, offsets[row] + pos, -1)  # row of the stacked tables, -1 = none
        stacked = (
            pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=TIER_FIELDS)
        )
        typed = {}
        for f in TIER_FIELDS:
            # Typed once on the (small) stacked tables, then taken per row: no object
            # array of a million values is built and converted.
            dtype = "Int64" if f == "tier" else "float64" if f == "rate" else "string"
            typed[f] = pd.Series(stacked[f], dtype=object).astype(dtype).array
        return chosen, typed


def unknown_payer(book: RateBook, name: str) -> dict[str, str] | None:
    """The `payer-unknown` warning for a payer named on a command line, or None if known."""
    if book.payer_named(name) is not None:
        return None
    from xl_pmpm.core.findings import CODES

    severity, fix = CODES["payer-unknown"]
    return {
        "code": "payer-unknown",
        "severity": severity,
        "message": f"No payer named '{name}' in the payer settings or the rate table: "
        f"the default payer's settings and rates are used. {fix}",
    }


def read_table_text(text: str, what: str, columns: list[str], source: str) -> pd.DataFrame:
    """A settings table (CSV text) as stripped strings, indexed by file line number.

    A file saved half-way (a quote never closed, a last line cut short) is a
    PmpmInputError naming the file: a missing value is '', for the checks to name.
    """
    fix = f"Save the {what} again in full (compare it with the bundled one)."
    if not text.strip():
        raise PmpmInputError(f"The {what} is empty.", file=source, fix=fix)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise unreadable_csv(exc, f"The {what}", source, fix) from None
    frame = frame.fillna("")
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PmpmInputError(
            f"The {what} lacks the column(s) {', '.join(missing)}.",
            file=source,
            row=1,
            fix=f"The header must name: {', '.join(columns)}.",
        )
    frame.index = pd.RangeIndex(2, len(frame) + 2)  # file line numbers: header is line 1
    return frame.apply(lambda s: s.str.strip())


def _parse_dates(frame: pd.DataFrame, col: str, path: str, *, blank_ok: bool) -> pd.Series:
    values = pd.to_datetime(frame[col].replace("", None), format="%Y-%m-%d", errors="coerce")
    bad = values.isna() & ~(blank_ok & (frame[col] == ""))
    fail_at_first(
        bad,
        frame[col],
        file=path,
        column=col,
        message="'{value}' is not a date.",
        fix="Write dates as YYYY-MM-DD.",
    )
    return values


def parse_rates(frame: pd.DataFrame, path: str) -> pd.DataFrame:
    """Type and check a rate table read as text (index = file line numbers)."""
    rates = frame.copy()
    rates["payer"] = rates["payer"].replace("", DEFAULT_PAYER)
    rates["tier"] = parse_whole_numbers(
        rates, "tier", path, fix="Write the tier as a whole number (1, 2, 3, ...)."
    )
    rates["min_hours"] = parse_numbers(rates, "min_hours", path, blank_ok=False)
    rates["max_hours"] = parse_numbers(rates, "max_hours", path, blank_ok=True).fillna(np.inf)
    rates["rate"] = parse_numbers(rates, "rate", path, blank_ok=False)
    rates["effective_from"] = _parse_dates(rates, "effective_from", path, blank_ok=False)
    rates["effective_to"] = _parse_dates(rates, "effective_to", path, blank_ok=True)
    fail_at_first(
        rates["min_hours"] >= rates["max_hours"],
        rates["min_hours"],
        file=path,
        column="min_hours",
        message="min_hours is not below max_hours.",
        fix="A tier covers min_hours up to, not including, max_hours.",
    )
    _check_no_overlap(rates, path)
    return rates


def _check_no_overlap(rates: pd.DataFrame, path: str) -> None:
    """Two rows for the same payer and tier must not be in force on the same day.

    One sort of the whole table (payer, tier, start): each row is compared with the one
    before it, where that one is of the same payer and tier."""
    g = rates.sort_values(["payer", "tier", "effective_from"], kind="stable")
    ends = g["effective_to"].fillna(pd.Timestamp("2262-04-11")).to_numpy()
    starts = g["effective_from"].to_numpy()
    payer, tier = g["payer"].to_numpy(), g["tier"].to_numpy()
    same = (payer[1:] == payer[:-1]) & (tier[1:] == tier[:-1])
    clash = np.flatnonzero(same & (starts[1:] <= ends[:-1]))
    if len(clash):
        first = int(clash[0]) + 1
        raise PmpmInputError(
            f"Payer '{payer[first]}' tier {tier[first]} has two rates in force on the same days.",
            file=path,
            row=int(g.index[first]),
            column="effective_from",
            fix="Give the older row an effective_to before this row's effective_from.",
        )


def parse_payers(frame: pd.DataFrame, path: str) -> pd.DataFrame:
    payers = frame.copy()
    lines = payers.index  # file line numbers (the default payer's row may be added below)
    payers["payer"] = payers["payer"].replace("", DEFAULT_PAYER)
    payers["contracts"] = payers["contracts"].map(
        lambda s: [p.strip() for p in s.split(";") if p.strip()]
    )
    payers["hours_basis"] = payers["hours_basis"].replace("", DEFAULT_BASIS)
    payers["claim_dates"] = payers["claim_dates"].replace("", "month")
    for col, default in PAYER_OPTIONAL.items():
        if col not in payers.columns:
            payers[col] = default
        payers[col] = payers[col].replace("", default)
    payers["auto_billed"] = payers["auto_billed"].map(
        lambda s: [p.strip() for p in s.split(";") if p.strip()]
    )
    payers["late"] = payers["late"].str.casefold()
    payers["own_codes"] = payers["own_codes"].str.casefold()
    for col, example in (("submission_days", 90), ("remittance_days", 45)):
        payers[col] = parse_numbers(payers, col, path, blank_ok=False)
        days = payers[col]
        fail_at_first(
            (days < 0) | (days % 1 != 0),
            days,
            file=path,
            column=col,
            message=f"{col} is not a whole number of days.",
            fix=f"Write a whole number of days, e.g. {example}.",
        )
        payers[col] = payers[col].astype("int64")
    for col, allowed in (
        ("hours_basis", basis_names()),
        ("claim_dates", CLAIM_DATES),
        ("late", LATE),
        ("own_codes", YES_NO),
    ):
        fail_at_first(
            ~payers[col].isin(allowed),
            payers[col],
            file=path,
            column=col,
            message="'{value}' is not a known setting.",
            fix=f"Use one of: {', '.join(allowed)}.",
        )
    if DEFAULT_PAYER not in set(payers["payer"]):
        default = pd.DataFrame(
            [
                {
                    "payer": DEFAULT_PAYER,
                    "contracts": [],
                    "hours_basis": DEFAULT_BASIS,
                    "claim_dates": "month",
                    "submission_days": int(PAYER_OPTIONAL["submission_days"]),
                    "late": PAYER_OPTIONAL["late"],
                    "own_codes": PAYER_OPTIONAL["own_codes"],
                    "pmpm_contract": "",
                    "auto_billed": [],
                    "remittance_days": int(PAYER_OPTIONAL["remittance_days"]),
                }
            ]
        )
        payers = pd.concat([payers, default], ignore_index=True)
    _check_pmpm_contracts(payers, lines, path)
    return payers


def _check_pmpm_contracts(payers: pd.DataFrame, lines: pd.Index, path: str) -> None:
    """A payer's `pmpm_contract` must be one of its contracts (by its `contracts` patterns,
    or its name in the contract): otherwise the rows billed on it would be read back as
    another payer's, with that payer's tiers and claim dates."""
    book = RateBook(rates=pd.DataFrame(columns=RATE_COLUMNS), payers=payers, source=path)
    for position, (payer, contract) in enumerate(
        zip(payers["payer"], payers["pmpm_contract"], strict=True)
    ):
        if contract and book.payer_of_contract(contract) != payer:
            raise PmpmInputError(
                f"Payer '{payer}' names the PMPM contract '{contract}', which is not one of "
                "its contracts.",
                file=path,
                row=int(lines[position]) if position < len(lines) else None,
                column="pmpm_contract",
                fix="Name a contract that the payer's `contracts` patterns fit, or add it to them.",
            )


def parse_rate_book(
    rates_text: str,
    payers_text: str,
    rates_source: str = "rates.csv",
    payers_source: str = "payers.csv",
) -> RateBook:
    """Build a RateBook from the CSV text of the rate table and the payer settings."""
    rates = parse_rates(
        read_table_text(rates_text, "rate table", RATE_COLUMNS, rates_source), rates_source
    )
    payers = parse_payers(
        read_table_text(payers_text, "payer settings", PAYER_COLUMNS, payers_source), payers_source
    )
    return RateBook(rates=rates, payers=payers, source=rates_source, payers_source=payers_source)


def tier_for_hours(
    hours: float | list[float] | pd.Series,
    payer: str = DEFAULT_PAYER,
    month: pd.Timestamp | str | None = None,
    *,
    book: RateBook,
) -> pd.DataFrame:
    """Tier, rate code and rate for some hours under one payer, hours first."""
    series = pd.Series(hours if isinstance(hours, (list, pd.Series)) else [hours])
    out = book.assign(series, book.resolve_payer(payer), month)
    out.insert(0, "hours", pd.to_numeric(series, errors="coerce"))
    return out
