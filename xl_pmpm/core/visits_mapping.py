"""The visits column mapping (`data/visits_columns.toml`): which header holds each field,
the status words, the date forms; and which of a file's headers holds each field.

Plain Python (no pandas): `xl-pmpm visits` reads its mapping and starts DuckDB's query
while pandas loads (`io/visits_engine.py`). The rules over the visits themselves are
`core/visits.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.plain import check_date_formats, squash
from xl_pmpm.core.shape import SCALAR, Each, check_shape, either

STATUSES = ("billed", "confirmed_unbilled", "unconfirmed", "scheduled")
REQUIRED_FIELDS = ("patient_number", "contract", "visit_date", "hours", "status")
OPTIONAL_FIELDS = ("authorized_hours", "patient_name", "agency_id", "office_id")
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS


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


# What an engine reads in each distinct cell of these fields (`core.visits.engine_sums`).
ENGINE_READS = {
    "visit_date": "day",
    "hours": "hours",
    "status": "billed",
    "authorized_hours": "hours",
}
