"""From visits to a tier report: one row per visit in, one row per member-contract-month out.

A visits file (an EVV / scheduling export) has one row per visit: member (Patient
Number), contract, visit date, hours and a status word. `VisitsMapping` (from
`data/visits_columns.toml`, replaceable by the user) says which header holds which
field and which status words mean billed / confirmed-unbilled / unconfirmed /
scheduled.

Core: `normalize_visits` (text table -> typed visits, PmpmInputError on bad cells)
and `aggregate_visits` (typed or text visits -> tier report table in the layout's
columns, all text). Both are plain functions over DataFrames, vectorized (per
distinct value where parsing is involved; groupby for the sums). The thin readers
`load_mapping` and `read_visits` do the file I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xl_pmpm.core.cells import check_date_formats, fail_at_first, parse_dates_in_formats
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.findings import ValidationReport, combine, finding_rows
from xl_pmpm.core.hours_basis import basis_hours
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.member_months import one_row_per_member, split_message
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.shape import SCALAR, Each, check_shape, either
from xl_pmpm.core.values import per_value, squash

STATUSES = ("billed", "confirmed_unbilled", "unconfirmed", "scheduled")
REQUIRED_FIELDS = ("patient_number", "contract", "visit_date", "hours", "status")
OPTIONAL_FIELDS = ("authorized_hours", "patient_name", "agency_id", "office_id")
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
# Canonical columns of a normalized visits frame (what `normalize_visits` returns).
VISIT_COLUMNS = list(FIELDS)


@dataclass(frozen=True)
class VisitsMapping:
    """Which header holds each field, the status words, the accepted date forms."""

    columns: dict[str, str]
    statuses: dict[str, str]  # casefolded status word -> one of STATUSES
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    defaults: dict[str, str] = field(default_factory=dict)
    source: str = "bundled visits_columns.toml"


MAPPING_SHAPE = {
    "columns": Each(SCALAR),
    "statuses": Each(either(SCALAR, [SCALAR])),
    "format": {"date_formats": [str]},
    "defaults": Each(SCALAR),
}


def parse_mapping(raw: dict, source: str = "visits mapping") -> VisitsMapping:
    """Build and check a VisitsMapping from parsed TOML."""
    check_shape(raw, MAPPING_SHAPE, source, fix="Compare it with the bundled visits_columns.toml.")
    cols = {k: str(v).strip() for k, v in raw.get("columns", {}).items() if str(v).strip()}
    unknown = set(cols) - set(FIELDS)
    if unknown:
        raise PmpmInputError(
            f"[columns] names unknown field(s): {', '.join(sorted(unknown))}.",
            file=source,
            fix=f"Use only: {', '.join(FIELDS)}.",
        )
    missing = [f for f in REQUIRED_FIELDS if f not in cols]
    if missing:
        raise PmpmInputError(
            f"[columns] lacks the field(s) {', '.join(missing)}.",
            file=source,
            fix="Name the header of your file that holds each of them.",
        )
    statuses: dict[str, str] = {}
    for status, words in raw.get("statuses", {}).items():
        if status not in STATUSES:
            raise PmpmInputError(
                f"[statuses] has '{status}'.", file=source, fix=f"Use {', '.join(STATUSES)}."
            )
        for w in words if isinstance(words, list) else [words]:
            key = squash(str(w))
            if key in statuses and statuses[key] != status:
                raise PmpmInputError(
                    f"The status word '{w}' is listed under two statuses.",
                    file=source,
                    fix="List each word under one status.",
                )
            statuses[key] = status
    if "billed" not in statuses.values():
        raise PmpmInputError(
            "[statuses] gives no word for 'billed'.", file=source, fix='Add billed = ["Billed"].'
        )
    formats = check_date_formats(
        raw.get("format", {}).get("date_formats", ["%Y-%m-%d"]), source, "[format] date_formats"
    )
    defaults = {k: str(v).strip() for k, v in raw.get("defaults", {}).items()}
    return VisitsMapping(cols, statuses, formats, defaults, source)


# --- normalizing ---------------------------------------------------------------------------


def _parse_hours(values: pd.Series) -> pd.Series:
    def parse(u: pd.Series) -> pd.Series:
        text = u.str.strip()
        ok = text.str.fullmatch(r"\d+(?:\.\d+)?|\.\d+")
        return pd.to_numeric(text.where(ok, None), errors="coerce").astype("float64")

    return per_value(values, parse)


def _distinct(column: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(codes, values): every cell is `values[codes]`, missing ones as ''.

    The text rules run on `values` only (a few thousand distinct IDs, dates and hours
    where a month has millions of visits); a Categorical column (the fast reader's)
    gives its codes as they are.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        values = pd.Series(column.cat.categories).astype(str)
        if (codes < 0).any():
            codes = np.where(codes < 0, len(values), codes)
            values = pd.concat([values, pd.Series([""], dtype=values.dtype)])
    else:
        codes, uniques = pd.factorize(column, use_na_sentinel=False)
        values = pd.Series(uniques, dtype=object).fillna("").astype(str)
    return codes, values.reset_index(drop=True)


def _categorical(codes: np.ndarray, values: pd.Series) -> pd.Categorical:
    """`values[codes]` as a Categorical whose categories are sorted (the report's order)."""
    inner, categories = pd.factorize(values, sort=True)
    return pd.Categorical.from_codes(inner[codes], categories=categories, validate=False)


def _fail_at_first(bad: pd.Series, codes: np.ndarray, values: pd.Series, index, **where) -> None:
    """`cells.fail_at_first` with `bad` given per distinct value (`_distinct`)."""
    bad = bad.to_numpy(dtype=bool)
    if bad.any():
        rows = bad[codes]
        if rows.any():
            first = int(rows.argmax())
            line = pd.Series([values.iloc[codes[first]]], index=[index[first]])
            fail_at_first(pd.Series([True], index=line.index), line, **where)


def visit_headers(columns, mapping: VisitsMapping, source: str = "") -> dict[str, str]:
    """Which of the file's `columns` holds each field (required ones must be there)."""
    by_key = {squash(str(c)): c for c in columns}
    header: dict[str, str] = {}
    for f in FIELDS:
        name = mapping.columns.get(f)
        if name and squash(name) in by_key:
            header[f] = by_key[squash(name)]
        elif f in REQUIRED_FIELDS:
            raise PmpmInputError(
                f"The visits file has no column '{name}' (the {f.replace('_', ' ')}).",
                file=source,
                row=1,
                fix=f"Rename the header, or map it in the mapping file ({mapping.source}).",
            )
    return header


# Per field: what a bad cell's message and fix say (`read_values` finds them).
_BAD = {
    "patient_number": ("The cell is blank.", "Fill it in."),
    "contract": ("The cell is blank.", "Fill it in."),
    "visit_date": ("'{value}' is not a date.", ""),
    "hours": (
        "'{value}' is not a number of hours.",
        "Write decimal hours of 0 or more, e.g. 7.5 (not 7:30).",
    ),
    "status": ("'{value}' is not a known visit status.", ""),
    "authorized_hours": (
        "'{value}' is not a number of hours.",
        "Write decimal hours such as 300, or leave the cell blank.",
    ),
}


def read_values(f: str, values: pd.Series, mapping: VisitsMapping) -> tuple[pd.Series, pd.Series]:
    """(typed, bad): the field `f`'s rule over distinct text `values` (one per value).

    Patient number and contract: the text stripped (bad when blank); visit date: the
    day (datetime64, bad when no date form fits); hours and authorized hours: a float
    (bad when not decimal hours; a blank authorized cell is NaN, not bad); status: one
    of STATUSES (bad when the word is unknown). The one place these rules are, for
    `normalize_visits` and for an engine's sums (`engine_sums`).
    """
    if f in ("patient_number", "contract"):
        typed = values.str.strip()
        return typed, typed == ""
    if f == "visit_date":
        typed = parse_dates_in_formats(values, mapping.date_formats).dt.normalize()
        return typed, typed.isna()
    if f in ("hours", "authorized_hours"):
        typed = _parse_hours(values)
        bad = typed.isna()
        return typed, bad & (values.str.strip() != "") if f == "authorized_hours" else bad
    if f == "status":
        words = mapping.statuses
        typed = values.map(lambda w: words.get(squash(w), "")).astype(object)
        return typed, typed == ""
    raise ValueError(f)


def _fix(f: str, mapping: VisitsMapping) -> str:
    if f == "visit_date":
        forms = " or ".join(mapping.date_formats)
        return f"Write the date in one of the forms {forms} (or add the form to the mapping)."
    if f == "status":
        known = ", ".join(sorted({w for w in mapping.statuses}))
        return f"Use one of: {known} (or add the word to the mapping's [statuses])."
    return _BAD[f][1]


def normalize_visits(raw: pd.DataFrame, mapping: VisitsMapping, source: str = "") -> pd.DataFrame:
    """Typed visits from a text table whose headers are the file's (index = file line numbers).

    Returns the columns of VISIT_COLUMNS: text fields as Categoricals (sorted
    categories), `visit_date` (datetime, day), `hours` (float), `status` (categorical of
    STATUSES), `authorized_hours` (float, NaN where blank or absent). Raises
    PmpmInputError naming file, line and column at the first bad cell of a column.
    Each rule runs on the distinct values of its column (`_distinct`, `read_values`).
    """
    header = visit_headers(raw.columns, mapping, source)
    n = len(raw)
    index = raw.index
    cells = {f: _distinct(raw[h]) for f, h in header.items()}
    out: dict[str, object] = {}

    def typed(f: str) -> tuple[np.ndarray, pd.Series]:
        codes, values = cells[f]
        result, bad = read_values(f, values, mapping)
        where = {"file": source, "column": header[f], "message": _BAD[f][0]}
        _fail_at_first(bad, codes, values, index, **where, fix=_fix(f, mapping))
        return codes, result

    for f in ("patient_number", "contract"):
        out[f] = _categorical(*typed(f))
    for f in ("visit_date", "hours"):
        codes, result = typed(f)
        out[f] = result.to_numpy()[codes]
    codes, status = typed("status")
    status_codes = pd.Index(STATUSES).get_indexer(status)
    out["status"] = pd.Categorical.from_codes(status_codes[codes], categories=list(STATUSES))
    if "authorized_hours" in header:
        codes, auth = typed("authorized_hours")
        out["authorized_hours"] = auth.to_numpy()[codes]
    else:
        out["authorized_hours"] = np.full(n, np.nan)
    for f in ("patient_name", "agency_id", "office_id"):
        default = mapping.defaults.get(f, "")
        if f in header:
            codes, values = cells[f]
            values = values.str.strip()
            out[f] = _categorical(codes, values.where(values != "", default) if default else values)
        else:
            out[f] = _categorical(np.zeros(n, dtype="int64"), pd.Series([default]))
    return pd.DataFrame(out, index=index)[VISIT_COLUMNS]


def _is_normalized(visits: pd.DataFrame) -> bool:
    return set(VISIT_COLUMNS) <= set(visits.columns) and pd.api.types.is_datetime64_any_dtype(
        visits["visit_date"]
    )


# --- aggregating ---------------------------------------------------------------------------


# Decimals of an hour below which a sum's digits are floating-point noise.
_NOISE_DECIMALS = 6


def shown_hours(values: pd.Series) -> pd.Series:
    """Hours as the file shows them: cut (not rounded) to 2 decimals.

    A tier boundary has at most 2 decimals, so the value shown is on the same side
    of every boundary as the exact value: the tier the file's hours give is the
    exact hours' tier.
    """
    return np.floor(values.round(_NOISE_DECIMALS) * 100 + 1e-9) / 100


def format_hours(values: pd.Series) -> pd.Series:
    """Hours as text with two decimals ('' for NaN), formatted once per distinct value
    (a month's sums hold a few thousand), without a Python loop per value."""
    cents = np.rint(values.to_numpy(dtype="float64", na_value=np.nan) * 100)
    ok = ~np.isnan(cents)
    codes, whole = pd.factorize(np.where(ok, cents, 0).astype("int64"))
    whole = pd.Series(whole)
    txt = (whole // 100).astype(str) + "." + (whole % 100).astype(str).str.zfill(2)
    out = txt.take(codes)
    out.index = values.index
    return out.where(ok, "")


def _text(values: pd.Series) -> pd.Series:
    """Text with '' for missing, whatever the dtype (Categorical, str, object)."""
    if values.dtype == "str":
        return values.fillna("")
    return values.astype(object).where(values.notna(), "").astype(str)


def aggregate_visits(
    visits: pd.DataFrame,
    layout: Layout,
    book: RateBook,
    month: pd.Period | str,
    *,
    mapping: VisitsMapping,
    source: str = "",
) -> pd.DataFrame:
    """The month's tier report (layout columns, all text) from one-row-per-visit data.

    `visits` is either a normalized frame (from `read_visits` / `normalize_visits`)
    or the file's text table (normalized here with `mapping`). One output row per
    member (Patient Number) and contract with a visit in `month`:

    - Billed Hours = sum of billed visits; Unbilled Hours = sum of the other three
      statuses. The tier is taken from the exact sums (159.9966 h is Tier 1: it is
      under 160); only what the file shows is cut to 2 decimals (159.99), never
      rounded up, so the hours shown give the same tier as the exact sum. Sums are
      first rounded to 6 decimals: floating-point noise (53.33 + 53.33 + 53.34 =
      159.99999999999997) is not a fraction of an hour.
    - Authorized Hours (the layout's optional column) = the largest value given
      for the member-month (blank if none).
    - Tier / Primary Service code: the payer's tier (RateBook, on the payer's
      hours basis: billed or authorized) and that tier's PA service code; blank
      where the hours reach no tier (e.g. a member with unbilled hours only:
      validation then reports it below the minimum).
    - Schedule / visit times: the 1st of the month at the layout's defaults;
      Caregiver Code, Pay Rate, Discipline: the layout's defaults.

    Visits outside `month` are ignored. Counts go in `result.attrs["visits"]`:
    {"visits", "in_month", "outside_month", "rows"}. Rows are ordered by
    contract then patient number; the index is the line they will have in the
    file (2, 3, ...).
    """
    if not _is_normalized(visits):
        visits = normalize_visits(visits, mapping, source)
    return visits_report(visit_sums(visits, month), layout, book, month)


# What visit_sums keeps of each member and contract, and how parts of a file add up.
_SUMS = {
    "billed": "sum",
    "unbilled": "sum",
    "authorized": "max",
    "name": "first",
    "agency": "first",
    "office": "first",
}


def _sorted_by(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """`frame` in the order of `keys`, as `sort_values(keys, kind="stable")` gives it, index
    reset. Text keys without a missing value are sorted by Arrow (its order of UTF-8 bytes
    is Python's order of text, and its sort is stable), two to three times quicker than
    pandas' sort of several text columns."""
    columns = [frame[k] for k in keys]
    if not all(c.dtype == "str" and not c.hasnans for c in columns):
        return frame.sort_values(keys, kind="stable").reset_index(drop=True)
    table = pa.table({str(i): pa.array(c) for i, c in enumerate(columns)})
    order = pc.sort_indices(table, sort_keys=[(str(i), "ascending") for i in range(len(keys))])
    return frame.take(order.to_numpy()).reset_index(drop=True)


def visit_sums(visits: pd.DataFrame, month: pd.Period | str) -> pd.DataFrame:
    """The month's hours of normalized `visits` per contract and member (billed, unbilled,
    the largest authorized, the first name and IDs given); the visits counted in
    `attrs["visits"]` ({"visits", "in_month"}). Parts of one file, read a chunk at a time,
    add up with `combine_visit_sums`."""
    period = pd.Period(month, freq="M")
    inside = (visits["visit_date"] >= period.start_time) & (visits["visit_date"] <= period.end_time)
    v = visits[inside.to_numpy()]
    billed = v["hours"].where(v["status"] == "billed", 0.0)
    frame = pd.DataFrame(
        {
            "patient_number": v["patient_number"],
            "contract": v["contract"],
            "billed": billed,
            "unbilled": v["hours"] - billed,
            "authorized": v["authorized_hours"],
            "name": v["patient_name"].where(v["patient_name"] != "", None),
            "agency": v["agency_id"].where(v["agency_id"] != "", None),
            "office": v["office_id"].where(v["office_id"] != "", None),
        }
    )
    groups = frame.groupby(["contract", "patient_number"], sort=True, observed=True)
    agg = groups.agg(**{f: (f, how) for f, how in _SUMS.items()}).reset_index()
    agg.attrs["visits"] = {"visits": int(len(visits)), "in_month": int(inside.sum())}
    return agg


# An engine's per-group sums (`engine_sums`): the columns it gives per raw contract and
# patient number, and the distinct cells it read, each with its own reading of them.
ENGINE_GROUP_COLUMNS = (
    "contract",
    "patient_number",
    "billed",
    "unbilled",
    "authorized",
    "patient_name",
    "agency_id",
    "office_id",
    "visits",
    "in_month",
)
ENGINE_READS = {
    "visit_date": "day",
    "hours": "hours",
    "status": "billed",
    "authorized_hours": "hours",
}
_ENGINE_TEXT = {"name": "patient_name", "agency": "agency_id", "office": "office_id"}


def engine_sums(
    groups: pd.DataFrame,
    distinct: dict[str, pd.DataFrame],
    mapping: VisitsMapping,
    present: set[str],
) -> pd.DataFrame | None:
    """`visit_sums` from an engine's sums (e.g. SQL run over the file), or None where the
    engine's reading is not this module's: the caller then reads the file with
    `normalize_visits`, which names the bad cell.

    `groups` has ENGINE_GROUP_COLUMNS, one row per contract, patient number, name,
    agency and office as written in the file (every row of the file, in the month or
    not; NaN for a blank cell or a column the file lacks): billed and unbilled hours and
    the largest authorized hours of the month's visits, the visits and those in the
    month. `distinct[f]` has each distinct cell of field `f`
    (column `raw`) and what the engine read in it (ENGINE_READS: the day, the hours,
    whether the status is billed). Every distinct cell is checked against
    `read_values`; text fields must be one value per member (else None: "first" is the
    file's order, which the engine does not keep). `present`: the fields the file has.
    """
    for f, read in distinct.items():
        raw = distinct[f]["raw"].fillna("").astype(str)
        typed, bad = read_values(f, raw, mapping)
        if bad.any():
            return None
        theirs = read[ENGINE_READS[f]]
        if f == "status":
            ours = (typed == "billed").to_numpy()
            same = ours == theirs.fillna(False).to_numpy(dtype=bool)
        elif f == "visit_date":
            same = typed.to_numpy() == pd.to_datetime(theirs).to_numpy()
        else:
            a, b = typed.to_numpy(dtype=float), theirs.to_numpy(dtype=float, na_value=np.nan)
            same = (a == b) | (np.isnan(a) & np.isnan(b))
        if not np.all(same):
            return None
    out = groups.astype({f: "float64" for f in ("billed", "unbilled", "authorized")})
    for f in ("contract", "patient_number"):
        text, bad = read_values(f, out[f].fillna("").astype(str), mapping)
        if bad.any():
            return None
        out[f] = text
    visits, in_month = int(out["visits"].sum()), int(out["in_month"].sum())
    out = out[out["in_month"].to_numpy() > 0]
    for short, f in _ENGINE_TEXT.items():
        default = mapping.defaults.get(f, "")
        if f not in present:
            out[short] = default or None
            continue
        if default:
            return None  # a blank cell would take the default: which one is first matters
        text = out[f].fillna("").astype(str).str.strip()
        out[short] = text.where(text != "", None)
    keys = ["contract", "patient_number"]
    agg = _sorted_by(out[[*keys, *_SUMS]], keys)
    # Sorted, a member with two groups has them side by side.
    twice = np.ones(max(len(agg) - 1, 0), dtype=bool)
    for k in keys:
        text = agg[k].to_numpy(dtype=object)
        twice &= text[1:] == text[:-1]
    if twice.any():  # a name or ID that changes, or only by spaces around it
        texts = out.groupby(keys)[list(_ENGINE_TEXT)].nunique(dropna=False)
        if (texts > 1).to_numpy().any():
            return None
        agg = out.groupby(keys, sort=True).agg(_SUMS).reset_index()
    else:  # one row a member: its sums are its own values (a lone NaN sums to 0)
        summed = [f for f, how in _SUMS.items() if how == "sum"]
        agg[summed] = agg[summed].fillna(0.0)
    agg.attrs["visits"] = {"visits": visits, "in_month": in_month}
    return agg


def combine_visit_sums(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """`visit_sums` of parts of one file (in the file's order) as of the whole file."""
    if len(parts) == 1:
        return parts[0]
    counts = {k: sum(p.attrs["visits"][k] for p in parts) for k in ("visits", "in_month")}
    keys = ["contract", "patient_number"]
    stacked = pd.concat([p.astype({k: str for k in keys}) for p in parts], ignore_index=True)
    agg = stacked.groupby(keys, sort=True).agg(_SUMS).reset_index()
    agg.attrs["visits"] = counts
    return agg


def visits_report(
    sums: pd.DataFrame, layout: Layout, book: RateBook, month: pd.Period | str
) -> pd.DataFrame:
    """The month's tier report from `visit_sums` (see aggregate_visits)."""
    period = pd.Period(month, freq="M")
    first = period.start_time
    agg = sums
    total = sums.attrs["visits"]["visits"]
    in_month = sums.attrs["visits"]["in_month"]
    # One member-month, one tier: the member's contracts added up, one row on one contract.
    agg = one_row_per_member(agg, book, summed=("billed", "unbilled", "authorized"))
    auto = agg["auto_billed"].to_numpy()
    agg = agg[~auto] if auto.any() else agg
    agg = _sorted_by(agg, ["contract", "patient_number"])
    exact = agg[["billed", "unbilled", "authorized"]].round(_NOISE_DECIMALS)

    payers = book.payer_for_contracts(agg["contract"])
    tiers = book.assign(basis_hours(book.hours_basis(payers), exact), payers, first)
    for f in ("billed", "unbilled", "authorized"):
        agg[f] = shown_hours(exact[f])

    day = first.strftime("%Y-%m-%d")
    by_role = {
        "agency_id": _text(agg["agency"]),
        "office_id": _text(agg["office"]),
        "patient_number": _text(agg["patient_number"]),
        "contract": _text(agg["contract"]),
        "service_code": tiers["service_code"].fillna("").astype(str),
        "patient_name": _text(agg["name"]),
        "billed_hours": format_hours(agg["billed"]),
        "unbilled_hours": format_hours(agg["unbilled"]),
        "authorized_hours": format_hours(agg["authorized"]),
        "tier": tiers["tier"].astype("string").fillna("").astype(str),
    }
    columns: dict[str, object] = {}
    for col in layout.columns:
        if col.role in by_role:
            columns[col.name] = by_role[col.role].array
        elif col.type == "datetime" and col.default:
            columns[col.name] = f"{day} {col.default}"
        else:
            columns[col.name] = col.default or ""
    line = pd.RangeIndex(2, len(agg) + 2, name="line")
    out = pd.DataFrame(columns, index=line, columns=[c.name for c in layout.columns])
    out = out.astype(str)
    split = (agg["contracts"] > 1).to_numpy()
    out.attrs["visits"] = {
        "visits": int(total),
        "in_month": int(in_month),
        "outside_month": int(total - in_month),
        "rows": int(len(out)),
        "split_members": int(split.sum()),
        "auto_billed_members": int(auto.sum()),
    }
    # Plain lists (not a DataFrame: attrs are compared when frames are concatenated).
    out.attrs["split_contracts"] = {
        "line": out.index[split].tolist(),
        "contract": by_role["contract"][split].tolist(),
        "message": split_message(agg[split]).tolist(),
    }
    return out


def with_split_contracts(
    report: ValidationReport, split: dict[str, list], layout: Layout
) -> ValidationReport:
    """`report` with a `split-contracts` warning per row of `split`
    (`aggregate_visits`' `attrs["split_contracts"]`: lists line, contract, message)."""
    if not split["line"]:
        return report
    found = finding_rows(
        "split-contracts",
        split["line"],
        layout.name_of("contract"),
        split["contract"],
        pd.Series(split["message"]),
    )
    return dataclasses.replace(report, findings=combine([report.findings, found]))
