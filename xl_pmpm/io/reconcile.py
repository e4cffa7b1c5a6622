"""Import results back into the ledger, and resubmission of the corrected rows.

HHAeXchange answers an upload by e-mail: "N of M rows imported", with an
attachment of the failed rows and a reason for each (seed 001). The attachment's
layout is not published. OUR SAMPLE FORMAT IS INVENTED: a CSV that echoes the
uploaded columns and adds "Failed Reason", optionally preceded by the summary
line, e.g.

    900 of 1000 rows imported successfully
    Agency ID,Office ID,Patient Number,Schedule Start Time,...,Primary Contract,...,Failed Reason
    48213,702,0001000001,2025-03-01 03:00,...,Linked - Metro MLTC CDPAP,...,Invalid Service Code

`ResultsMapping` names the headers (several candidates per field, matched
ignoring case and spacing), so a real attachment can be mapped without code.

Core (pure, over DataFrames): `parse_results`, `outstanding_rejections`,
`select_resubmission`, `resubmission`. Shell: `read_results`,
`reconcile_results` (reads the files, marks the ledger, exports through
`workflow.export_import_file` with the ledger, all under the ledger's lock).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from xl_pmpm.core.cells import (
    check_date_formats,
    fail_at_first,
    parse_dates_in_formats,
    unreadable_csv,
)
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.findings import ValidationReport, combine, finding_rows
from xl_pmpm.core.layout import Layout
from xl_pmpm.core.rates import RateBook
from xl_pmpm.core.shape import check_shape, either
from xl_pmpm.core.validation import validate_table
from xl_pmpm.core.values import member_key, squash
from xl_pmpm.io import ledger, sniff
from xl_pmpm.io.csv_reader import decode_text
from xl_pmpm.io.workflow import Exported, export_import_file

SUMMARY_LINE = re.compile(r"^\s*(\d[\d,]*)\s+of\s+(\d[\d,]*)\s+rows?\s+imported", re.IGNORECASE)
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %I:%M %p", "%Y-%m-%d", "%m/%d/%Y %H:%M", "%m/%d/%Y")


@dataclass(frozen=True)
class ResultsMapping:
    """Candidate headers for each field of a failed-rows file (first present wins)."""

    patient_number: tuple[str, ...] = ("Patient Number", "Admission ID")
    contract: tuple[str, ...] = ("Primary Contract", "Contract")
    visit_date: tuple[str, ...] = ("Visit Date", "Schedule Start Time", "Visit Start Time")
    reason: tuple[str, ...] = ("Failed Reason", "Failure Reason", "Reason", "Error")
    file_name: tuple[str, ...] = ("File Name",)
    date_formats: tuple[str, ...] = DATE_FORMATS


RESULTS_KEYS = ("patient_number", "contract", "visit_date", "reason", "file_name", "date_formats")


def load_results_mapping(path: str | Path | None) -> ResultsMapping:
    """A ResultsMapping from the `[results]` table of a TOML file (defaults when None)."""
    if path is None:
        return ResultsMapping()
    fix = "Give a TOML file with a [results] table of header names."
    text = either(str, [str])
    shape = {"results": dict.fromkeys(RESULTS_KEYS, text)}
    whole = sniff.load_toml(path, "The results columns file", fix)
    check_shape(whole, shape, str(path), fix=fix)
    raw = whole.get("results", {})
    base = ResultsMapping()
    values = {}
    for key in RESULTS_KEYS:
        v = raw.get(key, getattr(base, key))
        values[key] = (v,) if isinstance(v, str) else tuple(v)
    check_date_formats(values["date_formats"], str(path), "[results] date_formats")
    return ResultsMapping(**values)


def _pick(raw: pd.DataFrame, candidates: tuple[str, ...]) -> str | None:
    by_key = {squash(c): c for c in raw.columns}
    for c in candidates:
        if squash(c) in by_key:
            return by_key[squash(c)]
    return None


def parse_results(
    raw: pd.DataFrame,
    mapping: ResultsMapping,
    *,
    month: str | pd.Period | None = None,
    source: str = "",
) -> pd.DataFrame:
    """Failed rows (text table, index = file lines) as patient_number, contract, month, reason.

    The month comes from the visit/schedule date column, or from `month` when the
    file has no date column. Adds `file_name` when the file names the upload.
    """
    if raw.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype=str) for c in ("patient_number", "contract", "month", "reason")}
        )
    cols = {f: _pick(raw, getattr(mapping, f)) for f in ("patient_number", "contract", "reason")}
    for f, name in cols.items():
        if name is None:
            raise PmpmInputError(
                f"The results file has no {f.replace('_', ' ')} column "
                f"(looked for: {', '.join(getattr(mapping, f))}).",
                file=source,
                row=1,
                fix="Map the header in the results mapping ([results] table).",
            )
    text = {f: raw[c].fillna("").astype(str).str.strip() for f, c in cols.items()}
    out = pd.DataFrame(index=raw.index)
    for f in ("patient_number", "contract"):
        fail_at_first(
            text[f] == "",
            text[f],
            file=source,
            column=cols[f] or f,
            message="The cell is blank.",
            fix="Fill it in.",
        )
        out[f] = text[f]
    date_col = _pick(raw, mapping.visit_date)
    if date_col is not None:
        stamps = parse_dates_in_formats(raw[date_col], mapping.date_formats)
        fail_at_first(
            stamps.isna(),
            raw[date_col],
            file=source,
            column=date_col,
            message="'{value}' is not a date.",
            fix="Write it as YYYY-MM-DD HH:MM, as the import file had it.",
        )
        out["month"] = stamps.dt.to_period("M").astype(str)
    elif month is not None:
        out["month"] = str(pd.Period(month, freq="M"))
    else:
        raise PmpmInputError(
            "The results file has no date column to tell the month.",
            file=source,
            row=1,
            fix="Give the billing month with --month YYYY-MM.",
        )
    out["reason"] = text["reason"].where(text["reason"] != "", "(no reason given)")
    file_col = _pick(raw, mapping.file_name)
    if file_col is not None:
        out["file_name"] = raw[file_col].fillna("").astype(str).str.strip()
    return out


def outstanding_rejections(entries: pd.DataFrame) -> pd.DataFrame:
    """Rejected entries not yet followed by a newer pending/exported entry of the same
    member, contract and month (the failed rows still waiting for a correction)."""
    keys = ["_member", "contract", "month"]
    entries = entries.assign(_member=member_key(entries["patient_number"].astype(str)).to_numpy())
    rejected = entries[entries["status"] == ledger.REJECTED]
    later = entries[entries["status"].isin(ledger.BLOCKING)]
    newest = later.groupby(keys)["id"].max().rename("newer_id").reset_index()
    merged = rejected.merge(newest, on=keys, how="left")
    still = merged["newer_id"].isna() | (merged["newer_id"] < merged["id"])
    return merged[still.to_numpy()].drop(columns=["newer_id", "_member"]).reset_index(drop=True)


@dataclass
class Selection:
    """How the rows of a corrected file relate to the outstanding rejections."""

    rows: pd.DataFrame  # the corrected rows to resubmit (subset of the file, same index)
    unchanged: pd.Index  # lines identical to what was rejected: not resubmitted
    not_rejected: pd.Index  # lines whose member-month has no outstanding rejection
    missing: pd.DataFrame  # outstanding rejections with no row in the file
    findings: pd.DataFrame = field(default_factory=pd.DataFrame)


def select_resubmission(
    corrected: pd.DataFrame, rejected: pd.DataFrame, layout: Layout, month: str
) -> Selection:
    """Pick from `corrected` the rows that answer an outstanding rejection and were changed.

    `rejected`: outstanding rejected ledger entries (see `outstanding_rejections`).
    Rows identical (as the import file holds them) to the rejected export get a
    `still-rejected` warning and stay out; the entry stays rejected.
    """
    pid, contract = layout.name_of("patient_number"), layout.name_of("contract")
    month = str(pd.Period(month, freq="M"))
    keys = pd.DataFrame(
        {
            "patient_number": member_key(corrected[pid].fillna("").astype(str)),
            "contract": corrected[contract].fillna("").astype(str).str.strip(),
            "month": month,
            "row_hash": ledger.row_hashes(corrected, layout),
        },
        index=corrected.index,
    )
    wanted = rejected[rejected["month"] == month][
        ["patient_number", "contract", "month", "row_hash", "reason", "id"]
    ]
    wanted = wanted.assign(patient_number=member_key(wanted["patient_number"].astype(str)))
    wanted = wanted.drop_duplicates(["patient_number", "contract", "month"], keep="last")
    joined = (
        keys.reset_index(names="_line")
        .merge(wanted, on=["patient_number", "contract", "month"], how="left", suffixes=("", "_r"))
        .set_index("_line")
    )
    hit = joined["id"].notna()
    same = hit & (joined["row_hash"] == joined["row_hash_r"])
    take = joined.index[hit & ~same]
    unchanged = joined.index[same]
    answered = set(zip(joined.loc[hit, "patient_number"], joined.loc[hit, "contract"], strict=True))
    pairs = pd.Series(list(zip(wanted["patient_number"], wanted["contract"], strict=True)))
    missing = wanted[~pairs.isin(answered).to_numpy()].reset_index(drop=True)
    message = "Unchanged since the import rejected it (" + joined.loc[same, "reason"] + ")."
    findings = finding_rows(
        "still-rejected", unchanged, pid, corrected.loc[unchanged, pid], message
    )
    return Selection(
        rows=corrected.loc[take],
        unchanged=unchanged,
        not_rejected=joined.index[~hit],
        missing=missing,
        findings=findings,
    )


def resubmission(
    corrected: pd.DataFrame,
    rejected: pd.DataFrame,
    layout: Layout,
    book: RateBook,
    *,
    month: str,
    as_of: date | None = None,
    source: str = "",
) -> tuple[Selection, ValidationReport, pd.DataFrame]:
    """The corrected rows only, validated like any export (still-rejected warnings added)."""
    chosen = select_resubmission(corrected, rejected, layout, month)
    report, flags = validate_table(
        chosen.rows, layout, book, month=month, as_of=as_of, source=source
    )
    report = ValidationReport(
        combine([report.findings, chosen.findings]),
        report.rows,
        report.source,
        report.month,
        report.as_of,
    )
    return chosen, report, flags


# --- shell ---------------------------------------------------------------------------------


def read_results_bytes(
    data: bytes, mapping: ResultsMapping, *, month: str | None = None, source: str = "results"
) -> pd.DataFrame:
    """Failed rows from a results file's bytes; `attrs['summary']` = (imported, total) if given."""
    kind = sniff.identify(data)
    if kind is not None:
        raise sniff.refuse(kind, "The results file", source)
    too_long = sniff.too_long_line(data, "The results file", source)
    if too_long is not None:
        raise too_long
    text = decode_text(data)[0].replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    skip = 0
    summary = None
    while skip < len(lines) and (not lines[skip].strip() or SUMMARY_LINE.match(lines[skip])):
        got = SUMMARY_LINE.match(lines[skip])
        if got:
            summary = tuple(int(g.replace(",", "")) for g in got.groups())
        skip += 1
    body = "\n".join(lines[skip:])
    if not body.strip():
        raw = pd.DataFrame(columns=["Patient Number", "Primary Contract", "Failed Reason"])
    else:
        try:
            raw = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, ValueError) as exc:
            fix = "Save the attachment as CSV."
            raise unreadable_csv(exc, "The results file", source, fix) from None
        physical = body.count("\n") + (0 if body.endswith("\n") else 1)
        start = skip + 2  # header line = skip + 1
        if physical == len(raw) + 1:
            raw.index = pd.RangeIndex(start, start + len(raw), name="line")
        blank = (raw == "").all(axis=1).to_numpy() if len(raw.columns) else np.zeros(0, bool)
        raw = raw[~blank]
    raw.columns = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
    out = parse_results(raw, mapping, month=month, source=source)
    out.attrs["summary"] = summary
    return out


def read_results(
    path: str | Path, mapping: ResultsMapping | None = None, *, month: str | None = None
) -> pd.DataFrame:
    data = sniff.read_bytes(path, "The results file")
    return read_results_bytes(data, mapping or ResultsMapping(), month=month, source=str(path))


@dataclass
class ReconcileOutcome:
    failed: pd.DataFrame  # the failed rows, with the `id` of their ledger entry (<NA>: unknown)
    marked: int
    unmatched: pd.DataFrame
    outstanding: pd.DataFrame  # rejections still waiting for a correction (after resubmission)
    selection: Selection | None = None
    exported: Exported | None = None
    summary: tuple[int, int] | None = None


def reconcile_results(
    results_path: str | Path,
    db_path: str | Path,
    layout: Layout,
    book: RateBook,
    *,
    at: datetime,
    corrected: pd.DataFrame | None = None,
    out_dir: str | Path | None = None,
    month: str | None = None,
    as_of: date | None = None,
    mapping: ResultsMapping | None = None,
    source: str = "",
) -> ReconcileOutcome:
    """Mark the failed rows rejected; with `corrected` and `out_dir`, resubmit the corrected ones.

    Raises ExportRefused (nothing written) when the corrected rows still have errors;
    the rejections are recorded before that either way.
    """
    failed = read_results(results_path, mapping, month=month)
    with ledger.locked(db_path):  # no export may write into the ledger meanwhile
        ledger.reconcile_pending(db_path)
        return _reconcile_locked(
            failed,
            str(results_path),
            db_path,
            layout,
            book,
            at=at,
            corrected=corrected,
            out_dir=out_dir,
            month=month,
            as_of=as_of,
            source=source,
        )


def _reconcile_locked(
    failed: pd.DataFrame,
    results_name: str,
    db_path: str | Path,
    layout: Layout,
    book: RateBook,
    *,
    at: datetime,
    corrected: pd.DataFrame | None,
    out_dir: str | Path | None,
    month: str | None,
    as_of: date | None,
    source: str,
) -> ReconcileOutcome:
    marked = ledger.mark_rejected(db_path, failed, at=at)
    unmatched = marked[marked["id"].isna()]
    outcome = ReconcileOutcome(
        failed=marked,
        marked=int(marked["id"].notna().sum()),
        unmatched=unmatched,
        outstanding=pd.DataFrame(),
        summary=failed.attrs.get("summary"),
    )
    if corrected is not None and out_dir is not None:
        months = sorted(set(marked["month"]))
        the_month = month or (months[0] if len(months) == 1 else None)
        if the_month is None:
            raise PmpmInputError(
                f"The results span the months {', '.join(months)}.",
                file=results_name,
                fix="Give the month of the corrected file with --month YYYY-MM.",
            )
        waiting = outstanding_rejections(ledger.history(db_path))
        chosen, report, _ = resubmission(
            corrected, waiting, layout, book, month=the_month, as_of=as_of, source=source
        )
        outcome.selection = chosen
        if len(chosen.rows):
            outcome.exported = export_import_file(
                chosen.rows,
                out_dir,
                layout,
                book,
                month=the_month,
                as_of=as_of,
                at=at,
                source=source,
                read_findings=chosen.findings,
                ledger=db_path,
            )
    outcome.outstanding = outstanding_rejections(ledger.history(db_path))
    return outcome
